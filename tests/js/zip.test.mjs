// node --test tests/js/: the session export's ZIP writer (static/zip.js), read back byte by byte: CRC-32
// against its published check value and a hand-computed one, every local header, the central directory and
// the end record (stored, no compression, UTF-8 names). Python's zipfile reads the same bytes in
// tests/serve/test_page_modules.py.
import assert from "node:assert/strict";
import { test } from "node:test";

import { crc32, zipBytes, zipStore } from "../../src/dermaseg/serve/static/zip.js";

const enc = new TextEncoder();

test("CRC-32: the standard check value and a hand-computed one", () => {
  assert.equal(crc32(enc.encode("123456789")), 0xcbf43926);  // the check value of CRC-32/ISO-HDLC
  assert.equal(crc32(new Uint8Array(0)), 0);
  // one byte 0x00: ~table[0xff] where table[0xff] = 0x2d02ef8d (eight shift/xor steps), so 0xd202ef8d
  assert.equal(crc32(new Uint8Array([0])), 0xd202ef8d);
});

test("the archive's headers, read back", () => {
  const a = enc.encode("hello"), b = new Uint8Array([0, 255, 1, 254]);
  const when = new Date(2026, 11, 7, 23, 45, 30);  // local time, as ZIP stores it
  const z = zipBytes([{ name: "a.txt", data: a }, { name: "é/b.bin", data: b }], when);
  const v = new DataView(z.buffer);
  const name = (at, n) => new TextDecoder().decode(z.slice(at, at + n));
  const time = (23 << 11) | (45 << 5) | 15, date = ((2026 - 1980) << 9) | (12 << 5) | 7;

  // first local header at 0
  assert.equal(v.getUint32(0, true), 0x04034b50);
  assert.equal(v.getUint16(6, true), 0x0800);  // UTF-8 names
  assert.equal(v.getUint16(8, true), 0);  // stored
  assert.equal(v.getUint16(10, true), time); assert.equal(v.getUint16(12, true), date);
  assert.equal(v.getUint32(14, true), 0x3610a686);  // CRC-32 of "hello"
  assert.equal(v.getUint32(18, true), 5); assert.equal(v.getUint32(22, true), 5);
  assert.equal(v.getUint16(26, true), 5);
  assert.equal(name(30, 5), "a.txt");
  assert.deepEqual(z.slice(35, 40), a);
  // second local header right after the first entry's data
  const second = 30 + 5 + 5, nb = enc.encode("é/b.bin").length;
  assert.equal(v.getUint32(second, true), 0x04034b50);
  assert.equal(v.getUint32(second + 14, true), crc32(b));
  assert.equal(v.getUint16(second + 26, true), nb);
  assert.equal(name(second + 30, nb), "é/b.bin");
  assert.deepEqual(z.slice(second + 30 + nb, second + 30 + nb + 4), b);

  // end of central directory: 2 entries, where the directory starts and how long it is
  const eocd = z.length - 22;
  assert.equal(v.getUint32(eocd, true), 0x06054b50);
  assert.equal(v.getUint16(eocd + 8, true), 2); assert.equal(v.getUint16(eocd + 10, true), 2);
  const cdStart = v.getUint32(eocd + 16, true), cdSize = v.getUint32(eocd + 12, true);
  assert.equal(cdStart, second + 30 + nb + 4);
  assert.equal(cdStart + cdSize, eocd);
  // central directory entries point at their local headers
  assert.equal(v.getUint32(cdStart, true), 0x02014b50);
  assert.equal(v.getUint32(cdStart + 16, true), 0x3610a686);
  assert.equal(v.getUint32(cdStart + 42, true), 0);
  const cd2 = cdStart + 46 + 5;
  assert.equal(v.getUint32(cd2, true), 0x02014b50);
  assert.equal(v.getUint32(cd2 + 42, true), second);
  assert.equal(name(cd2 + 46, nb), "é/b.bin");
});

test("zipStore gives the same bytes as a Blob for the download", async () => {
  const files = [{ name: "x", data: enc.encode("x") }];
  const blob = zipStore(files);
  assert.equal(blob.type, "application/zip");
  const got = new Uint8Array(await blob.arrayBuffer());
  assert.equal(got.length, zipBytes(files).length);
  assert.deepEqual(got.slice(0, 10), zipBytes(files).slice(0, 10));
});
