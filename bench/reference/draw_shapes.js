// Draws builtin:shapes-style scenes with an independent renderer (Node, no NextToken code): any size, anti-aliased by
// 4x4 supersampling, written as PNG (zlib + CRC-32 from Node), with questions from the documented templates
// (docs/multimodal.md) in an image-text JSONL that `nexttoken eval --data` reads.
// Usage: node bench/reference/draw_shapes.js OUT_DIR [images=200] [size=96] [seed=7] [relations]
// With "relations": every left/above question of every ordered pair of named shapes, typed by both cells
// ("left-01-10": first shape in column 0, row 1; second in column 1, row 0), and the auxiliary where-pair question
// ("where2-…"), instead of one question per type: a diagnosis of which relations a model gets right.
'use strict';
const fs = require('fs'), path = require('path'), zlib = require('zlib');
const [out, nImages = '200', sizeArg = '96', seedArg = '7', mode = ''] = process.argv.slice(2);
const relations = mode === 'relations';
if (!out) { console.error('usage: node draw_shapes.js OUT_DIR [images] [size] [seed]'); process.exit(2); }
const N = +nImages, S = +sizeArg;
let state = BigInt(seedArg) * 6364136223846793005n + 1442695040888963407n;
function rand(n) { state = (state * 6364136223846793005n + 1442695040888963407n) & 0xFFFFFFFFFFFFFFFFn; return Number((state >> 33n) % BigInt(n)); }

const KINDS = ['square', 'circle', 'triangle', 'cross'];
const COLOURS = { red: [230, 30, 30], green: [30, 190, 40], blue: [40, 90, 240], yellow: [240, 220, 30], white: [250, 250, 250], purple: [150, 40, 200] };
const NUMBERS = ['zero', 'one', 'two', 'three', 'four'];

// Geometry in the documented 32-unit frame: 2x2 grid of 16-unit cells, half-size 4..6, centre within 2 of the cell centre.
function scene() {
  const cells = [0, 1, 2, 3], shapes = [];
  const count = 1 + rand(4);
  for (let i = 0; i < count; i++) {
    const cell = cells.splice(rand(cells.length), 1)[0], col = cell % 2, row = (cell / 2) | 0;
    shapes.push({ kind: KINDS[rand(4)], colour: Object.keys(COLOURS)[rand(6)], col, row,
                  cx: col * 16 + 8 + rand(5) - 2, cy: row * 16 + 8 + rand(5) - 2, h: 4 + rand(3) });
  }
  return shapes.sort((a, b) => (a.row * 2 + a.col) - (b.row * 2 + b.col));
}
function inside(s, x, y) { // x, y in the 32-unit frame
  const dx = x - s.cx, dy = y - s.cy, h = s.h;
  switch (s.kind) {
    case 'square': return Math.abs(dx) <= h && Math.abs(dy) <= h;
    case 'circle': return dx * dx + dy * dy <= h * h;
    case 'triangle': return dy >= -h && dy <= h && Math.abs(dx) <= (dy + h) / 2;
    default: return (Math.abs(dx) <= h / 3 && Math.abs(dy) <= h) || (Math.abs(dy) <= h / 3 && Math.abs(dx) <= h);
  }
}
function draw(shapes) {
  const px = Buffer.alloc(S * S * 3), k = 32 / S, ss = 4;
  for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
    const acc = [0, 0, 0];
    for (let sy = 0; sy < ss; sy++) for (let sx = 0; sx < ss; sx++) {
      const fx = (x + (sx + 0.5) / ss) * k, fy = (y + (sy + 0.5) / ss) * k;
      for (const s of shapes) if (inside(s, fx, fy)) { const c = COLOURS[s.colour]; acc[0] += c[0]; acc[1] += c[1]; acc[2] += c[2]; break; }
    }
    for (let c = 0; c < 3; c++) px[(y * S + x) * 3 + c] = Math.round(acc[c] / (ss * ss));
  }
  return px;
}
function png(px) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(zlib.crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13); ihdr.writeUInt32BE(S, 0); ihdr.writeUInt32BE(S, 4); ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB
  const raw = Buffer.alloc(S * (S * 3 + 1));
  for (let y = 0; y < S; y++) { raw[y * (S * 3 + 1)] = 0; px.copy(raw, y * (S * 3 + 1) + 1, y * S * 3, (y + 1) * S * 3); }
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
const plural = k => k === 'cross' ? 'crosses' : k + 's';
function questions(sh) {
  const q = [];
  for (const s of sh) if (sh.filter(o => o.kind === s.kind).length === 1) q.push(['colour', `what colour is the ${s.kind}?`, s.colour]);
  for (const s of sh) if (sh.filter(o => o.colour === s.colour).length === 1) q.push(['shape', `what shape is the ${s.colour} one?`, s.kind]);
  for (const k of KINDS) q.push(['count', `how many ${plural(k)} are there?`, NUMBERS[sh.filter(o => o.kind === k).length]]);
  const named = sh.filter(s => sh.filter(o => o.kind === s.kind && o.colour === s.colour).length === 1);
  for (const a of named) for (const b of named) if (a !== b) {
    const cells = relations ? `-${a.col}${a.row}-${b.col}${b.row}` : '';
    q.push(['left' + cells, `is the ${a.colour} ${a.kind} left of the ${b.colour} ${b.kind}?`, a.col < b.col ? 'yes' : 'no']);
    if (relations) {
      const cell = s => (s.row === 0 ? 'top ' : 'bottom ') + (s.col === 0 ? 'left' : 'right');
      q.push(['where2' + cells, `where are the ${a.colour} ${a.kind} and the ${b.colour} ${b.kind}?`, cell(a) + ' and ' + cell(b)]);
    }
    q.push(['above' + cells, `is the ${a.colour} ${a.kind} above the ${b.colour} ${b.kind}?`, a.row < b.row ? 'yes' : 'no']);
  }
  const parts = sh.map(s => `a ${s.colour} ${s.kind}`);
  q.push(['caption', 'describe the image.', (parts.length === 1 ? parts[0] : parts.slice(0, -1).join(', ') + ' and ' + parts[parts.length - 1]) + '.']);
  return q;
}
fs.mkdirSync(out, { recursive: true });
const lines = [];
for (let i = 0; i < N; i++) {
  const sh = scene(), file = `img${String(i).padStart(4, '0')}.png`;
  fs.writeFileSync(path.join(out, file), png(draw(sh)));
  const qs = questions(sh);
  if (relations) for (const x of qs.filter(x => x[0].includes('-'))) lines.push(JSON.stringify({ image: file, prompt: x[1], answer: x[2], type: x[0] }));
  for (const type of relations ? [] : ['colour', 'shape', 'count', 'left', 'above', 'caption']) {
    const of = qs.filter(x => x[0] === type);
    if (of.length) { const [t, p, a] = of[rand(of.length)]; lines.push(JSON.stringify({ image: file, prompt: p, answer: a, type: t })); }
  }
}
fs.writeFileSync(path.join(out, 'questions.jsonl'), lines.join('\n') + '\n');
console.log(`${N} images of ${S}x${S} and ${lines.length} questions in ${out}`);
