import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';

/**
 * Another process swaps a file (and, when given, a folder on its path) for symlinks to outside the roots, in a loop
 * (renames: the file's path always exists). Returns a function that stops it and returns the swap count.
 */
export async function startSwapper(o: { file: string; outsideFile: string; dir?: string; outsideDir?: string; inside: Buffer }): Promise<() => Promise<number>> {
  const script = `
    const fs = require('node:fs');
    const [target, outsideFile, dirTarget, outsideDir, inside] = process.argv.slice(1);
    const inBytes = Buffer.from(inside, 'hex');
    let n = 0;
    fs.writeSync(1, 'go\\n');
    while (!fs.existsSync(target + '.stop')) {
      fs.symlinkSync(outsideFile, target + '.l'); fs.renameSync(target + '.l', target);
      fs.writeFileSync(target + '.f', inBytes); fs.renameSync(target + '.f', target);
      if (dirTarget === '-') { n++; continue; }
      fs.symlinkSync(outsideDir, dirTarget + '.l'); fs.renameSync(dirTarget, dirTarget + '.old'); fs.renameSync(dirTarget + '.l', dirTarget);
      fs.unlinkSync(dirTarget); fs.renameSync(dirTarget + '.old', dirTarget);
      n++;
    }
    fs.writeSync(1, String(n));`;
  const child = spawn(process.execPath, ['-e', script, o.file, o.outsideFile, o.dir ?? '-', o.outsideDir ?? '-', o.inside.toString('hex')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`swapper exited ${code}`)));
  });
  return async () => {
    await writeFile(`${o.file}.stop`, '');
    if ((await exited) !== 0) throw new Error(`swapper failed: ${err}`);
    return Number(out.replace('go\n', ''));
  };
}
