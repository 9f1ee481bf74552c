import assert from "node:assert/strict";
import { audioSetFolder, labelListFolder } from "../lib/data/folder.ts";
import { encodeWav } from "../lib/audio/wav.ts";

const SR = 8000;
const tone = (f: number, n = SR / 2) =>
  Float32Array.from({ length: n }, (_, i) => 0.5 * Math.sin((2 * Math.PI * f * i) / SR));

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "dcls_data_folder_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const CLASSES = 'index,mid,display_name\n0,/m/a,"Alpha"\n1,/m/b,"Beta, the second"\n2,/m/c,Gamma\n';

Deno.test("audioSetFolder: YTID files with or without the Y prefix, multi-hot targets, missing clips listed", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/audio`);
    await Deno.writeFile(`${dir}/audio/abc.wav`, encodeWav([tone(440)], { sampleRate: SR }));
    await Deno.writeFile(`${dir}/audio/Y-def_1.wav`, encodeWav([tone(880, SR)], { sampleRate: SR }));
    await Deno.writeFile(`${dir}/audio/notes.txt`, new TextEncoder().encode("not audio"));
    await Deno.writeTextFile(`${dir}/classes.csv`, CLASSES);
    await Deno.writeTextFile(
      `${dir}/segments.csv`,
      '# YTID, start_seconds, end_seconds, positive_labels\nabc, 0.000, 10.000, "/m/a,/m/c"\n-def_1, 5, 15, "/m/b"\nzzz, 0, 10, "/m/a"\n',
    );
    const ds = await audioSetFolder({
      segmentsCsv: `${dir}/segments.csv`,
      classLabelsCsv: `${dir}/classes.csv`,
      audioDir: `${dir}/audio`,
      sampleRate: SR,
      seconds: 1,
    });
    assert.deepEqual(ds.classNames, ["Alpha", "Beta, the second", "Gamma"]);
    assert.equal(ds.length, 2);
    assert.deepEqual(ds.missing, ["zzz"]);
    const a = await ds.get(0);
    assert.equal(a.name, "abc");
    assert.deepEqual([...a.target], [1, 0, 1]);
    assert.equal(a.waveform.length, SR);
    // Half a second of tone, then zero padding to one second.
    assert.ok(Math.abs(a.waveform[SR / 4]) > 0 || Math.abs(a.waveform[SR / 4 + 1]) > 0);
    assert.equal(a.waveform[SR - 1], 0);
    const b = await ds.get(1);
    assert.equal(b.name, "-def_1");
    assert.match(ds.pathOf(1), /Y-def_1\.wav$/);
    assert.deepEqual([...b.target], [0, 1, 0]);
    await assert.rejects(
      audioSetFolder({
        segmentsCsv: `${dir}/segments.csv`,
        classLabelsCsv: `${dir}/classes.csv`,
        audioDir: `${dir}/audio`,
        requireAll: true,
      }),
      /segments\.csv:4: no audio file for zzz/,
    );
  });
});

Deno.test("audioSetFolder: unknown labels and unreadable inputs are one-line errors naming the file", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/classes.csv`, CLASSES);
    await Deno.writeTextFile(`${dir}/segments.csv`, '# h\nabc, 0, 10, "/m/a,/m/nope"\n');
    const opts = { segmentsCsv: `${dir}/segments.csv`, classLabelsCsv: `${dir}/classes.csv`, audioDir: dir };
    await assert.rejects(audioSetFolder(opts), /segments\.csv:2: label \/m\/nope is not in .*classes\.csv/);
    await assert.rejects(audioSetFolder({ ...opts, segmentsCsv: `${dir}/none.csv` }), /none\.csv: cannot read file/);
    await assert.rejects(audioSetFolder({ ...opts, audioDir: `${dir}/nodir` }), /nodir: cannot list folder/);
  });
});

Deno.test("labelListFolder: paths relative to the CSV, sorted label set, damaged files fail on get", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/clips`);
    await Deno.writeFile(`${dir}/clips/one.wav`, encodeWav([tone(300), tone(300)], { sampleRate: SR }));
    await Deno.writeFile(`${dir}/clips/two.wav`, encodeWav([tone(600)], { sampleRate: 16000 }));
    await Deno.writeFile(`${dir}/clips/bad.wav`, new TextEncoder().encode("RIFF....WAVEjunk"));
    await Deno.writeTextFile(
      `${dir}/list.csv`,
      "path,labels\nclips/one.wav,dog;cat\nclips/two.wav,bird\nclips/bad.wav,dog\nclips/gone.wav,cat\n",
    );
    const ds = await labelListFolder({ csv: `${dir}/list.csv`, sampleRate: SR, seconds: 0.25 });
    assert.deepEqual(ds.classNames, ["bird", "cat", "dog"]);
    assert.equal(ds.length, 3);
    assert.deepEqual(ds.missing, ["clips/gone.wav"]);
    const one = await ds.get(0);
    assert.equal(one.name, "clips/one.wav");
    assert.deepEqual([...one.target], [0, 1, 1]);
    assert.equal(one.waveform.length, SR / 4);
    // Resampled from 16 kHz to 8 kHz and cut to 0.25 s.
    const two = await ds.get(1);
    assert.equal(two.waveform.length, SR / 4);
    assert.deepEqual([...two.target], [1, 0, 0]);
    await assert.rejects(ds.get(2), (e: Error) => e.message.includes("bad.wav") && !e.message.includes("\n"));
    assert.throws(() => ds.pathOf(3), /out of range/);
  });
});

Deno.test("labelListFolder with a class index matches mids or display names", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/x.wav`, encodeWav([tone(300)], { sampleRate: SR }));
    await Deno.writeTextFile(`${dir}/classes.csv`, CLASSES);
    await Deno.writeTextFile(`${dir}/list.csv`, "x.wav,/m/c;Alpha\n");
    const ds = await labelListFolder({ csv: `${dir}/list.csv`, classLabelsCsv: `${dir}/classes.csv`, sampleRate: SR });
    assert.deepEqual([...(await ds.get(0)).target], [1, 0, 1]);
    await Deno.writeTextFile(`${dir}/list.csv`, "x.wav,Delta\n");
    await assert.rejects(
      labelListFolder({ csv: `${dir}/list.csv`, classLabelsCsv: `${dir}/classes.csv` }),
      /list\.csv:1: label "Delta" is not in/,
    );
  });
});
