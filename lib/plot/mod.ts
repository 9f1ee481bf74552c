/**
 * Dependency-free charts for reports: PNG (own encoder, bitmap font) and SVG from one layout.
 *
 * @module
 */

export { crc32, encodePng } from "./png.ts";
export {
  blendPixel,
  createRaster,
  drawLine,
  drawText,
  fillCircle,
  fillRect,
  type Raster,
  type Rgba,
} from "./canvas.ts";
export { ADVANCE, GLYPH_HEIGHT, GLYPH_WIDTH, glyphPixel, textHeight, textWidth } from "./font.ts";
export {
  type CircleShape,
  type LineShape,
  rasterize,
  type RectShape,
  renderPng,
  renderSvg,
  type Scene,
  type Shape,
  type TextShape,
} from "./scene.ts";
export { formatNumber, niceTicks, PALETTE } from "./axes.ts";
export { barChart, type BarChartOptions, barChartScene, barChartSvg, type BarSeries } from "./bar.ts";
export { lineChart, type LineChartOptions, lineChartScene, lineChartSvg, type LineSeries } from "./line.ts";
export {
  type ScatterPanel,
  scatterPanels,
  type ScatterPanelsOptions,
  scatterPanelsScene,
  scatterPanelsSvg,
} from "./scatter.ts";
