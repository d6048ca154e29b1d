import { chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RunWorkspace } from '../../src/runner/run-workspace.js';
import { itAsRoot } from '../support/root.js';

const base = mkdtempSync(join(tmpdir(), 'scheduler-workspace-test-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let count = 0;
const freshRoot = () => join(base, `root-${++count}`);

describe('RunWorkspace', () => {
  it('lays out a root and a run directory only the daemon can list or change, with the script and scratch for the run', () => {
    const root = freshRoot();
    const workspace = RunWorkspace.create(root, 'task.1', 7);
    expect(workspace.dir.startsWith(join(root, 'task.1.7-'))).toBe(true);
    expect(statSync(root).mode & 0o777).toBe(0o711);
    expect(statSync(workspace.dir).mode & 0o777).toBe(0o711);
    const script = workspace.writeScript('echo hi\n');
    expect(readFileSync(script, 'utf8')).toBe('echo hi\n');
    expect(statSync(script).mode & 0o777).toBe(0o600);
    expect(statSync(workspace.makeScratch()).mode & 0o777).toBe(0o700);
    workspace.remove();
    expect(existsSync(workspace.dir)).toBe(false);
  });

  it('never writes the script through something already there', () => {
    const workspace = RunWorkspace.create(freshRoot(), 'task', 1);
    const target = join(base, 'not-to-be-written');
    writeFileSync(target, 'original');
    symlinkSync(target, join(workspace.dir, 'script'));
    expect(() => workspace.writeScript('echo hi')).toThrow(/EEXIST/);
    expect(readFileSync(target, 'utf8')).toBe('original');
  });

  it('refuses a root that is a symlink', () => {
    const real = join(base, `real-${++count}`);
    mkdirSync(real);
    const root = freshRoot();
    symlinkSync(real, root);
    expect(lstatSync(root).isSymbolicLink()).toBe(true);
    expect(() => RunWorkspace.create(root, 'task', 1)).toThrow(/is not a directory of the daemon's user/);
  });

  itAsRoot('gives the script and scratch, not the directories, to the run\'s user; refuses a root someone else made', () => {
    const workspace = RunWorkspace.create(freshRoot(), 'task', 2, { uid: 65534, gid: 65534 });
    expect(statSync(workspace.dir).uid).toBe(0);
    expect(statSync(workspace.writeScript('true')).uid).toBe(65534);
    expect(statSync(workspace.makeScratch()).uid).toBe(65534);

    const squatted = freshRoot();
    mkdirSync(squatted, { mode: 0o777 });
    chownSync(squatted, 65534, 65534);
    expect(() => RunWorkspace.create(squatted, 'task', 3)).toThrow(/is not a directory of the daemon's user \(someone else made it\?\)/);
  });
});
