import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';

const EDGE = path.resolve(__dirname, '../../../../lib/edge');
const MAX_LINES = 400;

/**
 * The layers of lib/edge, lowest first (lib/edge/README.md, "Layers"). A file may import its own
 * layer and the ones below, never one above. `message` (parser, URI, SipMessage) is the vocabulary
 * every layer speaks, the transport included; `proxy` is the control link's proxy command and sits
 * with the control bridge; the files at the top of lib/edge wire it all.
 */
const LAYERS: Record<string, number> = { message: 0, transport: 1, transaction: 2, dialog: 3, proxy: 4, control: 4, '.': 5 };

function layerOf(file: string): string {
  const rel = path.relative(EDGE, file);
  const folder = rel.includes(path.sep) ? rel.split(path.sep)[0] : '.';
  return folder;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : [p];
  });
}

/** Module specifiers a TypeScript source imports (import/export from, import(), require()). */
function importsOf(text: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[1]);
  return out;
}

/** Every import in `files` that goes to a higher layer, or out of lib/edge to anything but lib/common. */
export function layerViolations(files: Array<{ file: string; text: string }>): string[] {
  const bad: string[] = [];
  for (const { file, text } of files) {
    const from = layerOf(file);
    if (!(from in LAYERS)) { bad.push(`${path.relative(EDGE, file)}: folder "${from}" is in no layer`); continue; }
    for (const spec of importsOf(text)) {
      if (!spec.startsWith('.')) continue;   // node: and packages
      const target = path.resolve(path.dirname(file), spec);
      const rel = path.relative(EDGE, target);
      if (rel.startsWith('..')) {
        if (!path.relative(path.resolve(EDGE, '..'), target).startsWith(`common${path.sep}`)) {
          bad.push(`${path.relative(EDGE, file)} imports ${spec}: outside lib/edge only lib/common may be used`);
        }
        continue;
      }
      const to = layerOf(target + '.ts');
      if (!(to in LAYERS)) bad.push(`${path.relative(EDGE, file)} imports ${spec}: folder "${to}" is in no layer`);
      else if (LAYERS[to] > LAYERS[from]) bad.push(`${path.relative(EDGE, file)} (${from}) imports ${spec} (${to}, a higher layer)`);
    }
  }
  return bad;
}

describe('edge: layered core', () => {
  const files = sourceFiles(EDGE).map((file) => ({ file, text: fs.readFileSync(file, 'utf8') }));

  it('no lower layer imports a higher one', () => {
    const ts = files.filter((f) => f.file.endsWith('.ts'));
    assert.ok(ts.length > 20, `found only ${ts.length} sources under ${EDGE}`);
    assert.deepEqual(layerViolations(ts), []);
  });

  it(`no file in lib/edge is over ${MAX_LINES} lines`, () => {
    const long = files.map((f) => ({ file: path.relative(EDGE, f.file), lines: f.text.split('\n').length - (f.text.endsWith('\n') ? 1 : 0) }))
      .filter((f) => f.lines > MAX_LINES);
    assert.deepEqual(long, []);
  });

  it('the check catches an upward import, a type-only one included, and a way out to the app', () => {
    const bad = layerViolations([
      { file: path.join(EDGE, 'transaction', 'x.ts'), text: "import { Dialog } from '../dialog/dialog';\n" },
      { file: path.join(EDGE, 'message', 'y.ts'), text: "import type { Endpoint } from '../transport/transport';\n" },
      { file: path.join(EDGE, 'dialog', 'z.ts'), text: "import { a } from '../../../app/thing';\nimport type { L } from '../../common/logger';\n" },
      { file: path.join(EDGE, 'control', 'w.ts'), text: "import { EdgeCore } from '../core';\nimport { x } from './app-bridge';\n" },
    ]);
    assert.equal(bad.length, 4, bad.join('\n'));
  });
});
