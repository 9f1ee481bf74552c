/**
 * A 5×7 bitmap font for printable ASCII (the classic LCD font) with one descender row, drawn in a 6×8 cell.
 *
 * @module
 */

// Five column bytes per glyph for codes 0x20..0x7E; bit 0 of a byte is the top row.
const GLYPHS = "000000000000005f00000007000700147f147f14242a7f2a12231308646236495522500005030000001c2241000041221c00" +
  "14083e081408083e080800503000000808080808006060000020100804023e5149453e00427f400042615149462141454b31" +
  "1814127f1027454545393c4a49493001710905033649494936064949291e0036360000005636000008142241001414141414" +
  "00412214080201510906324979413e7e1111117e7f494949363e414141227f4141221c7f494949417f090909013e4149497a" +
  "7f0808087f00417f41002040413f017f081422417f404040407f020c027f7f0408107f3e4141413e7f090909063e4151215e" +
  "7f09192946464949493101017f01013f4040403f1f2040201f3f4038403f631408146307087008076151494543007f414100" +
  "02040810200041417f0004020102044040404040000102040020545454787f484444383844444420384444487f3854545418" +
  "087e0901020c5252523e7f0804047800447d40002040443d007f1028440000417f40007c041804787c080404783844444438" +
  "7c14141408081414187c7c080404084854545420043f4440203c4040207c1c2040201c3c4030403c44281028440c5050503c" +
  "4464544c44000836410000007f000000413608001008081008";

const COLUMNS = Uint8Array.from({ length: GLYPHS.length / 2 }, (_, i) => parseInt(GLYPHS.slice(2 * i, 2 * i + 2), 16));

// The LCD font squeezes descenders into 7 rows, which makes "g" read as "9"; dropping these glyphs one row into an
// eighth row restores their tails.
const DESCENDERS = new Set(["g", "p", "q", "y"]);

/** Glyph width in font pixels. */
export const GLYPH_WIDTH = 5;
/** Glyph height in font pixels, the descender row included. */
export const GLYPH_HEIGHT = 8;
/** Horizontal advance per character in font pixels (glyph plus one column of spacing). */
export const ADVANCE = 6;

/** Whether font pixel (col, row) of character `ch` is set; characters outside printable ASCII draw as "?". */
export function glyphPixel(ch: string, col: number, row: number): boolean {
  let code = ch.charCodeAt(0);
  if (!(code >= 0x20 && code <= 0x7e)) code = 0x3f;
  const r = DESCENDERS.has(ch[0]) ? row - 1 : row;
  if (r < 0 || r > 6) return false;
  return ((COLUMNS[(code - 0x20) * GLYPH_WIDTH + col] >> r) & 1) === 1;
}

/** Width in pixels of `text` drawn at integer `scale` (no trailing spacing). */
export function textWidth(text: string, scale = 1): number {
  return text.length === 0 ? 0 : (text.length * ADVANCE - 1) * scale;
}

/** Height in pixels of one line drawn at integer `scale`. */
export function textHeight(scale = 1): number {
  return GLYPH_HEIGHT * scale;
}
