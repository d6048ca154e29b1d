/**
 * A directory of one run, outside the daemon's data directory, for what the run's own user
 * must reach: the script file of a run as another user (the data directory is the daemon's
 * alone), and the sandbox's scratch directory. It is removed with everything in it when the
 * run ends, so a run leaves nothing behind.
 *
 * Layout: ROOT/TASK.RUN-XXXXXX/ (0700, owned by the run's user) holding `script` (0600) and,
 * for the sandbox, `scratch/`. ROOT is 0711: anyone may pass through it to their own run's
 * directory, nobody but the daemon may list it, so a run cannot find another's.
 */
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Who owns the workspace: the user the run executes as. */
export interface WorkspaceOwner {
  uid: number;
  gid: number;
}

export class RunWorkspace {
  private constructor(
    readonly dir: string,
    private readonly owner: WorkspaceOwner | undefined,
  ) {}

  /** Makes the directory of run `run` of `taskId` under `root`. */
  static create(root: string, taskId: string, run: number, owner?: WorkspaceOwner): RunWorkspace {
    mkdirSync(root, { recursive: true, mode: 0o711 });
    chmodSync(root, 0o711);
    // Task ids are limited to [A-Za-z0-9._-], so they are safe in a file name.
    const dir = mkdtempSync(join(root, `${taskId}.${run}-`));
    const workspace = new RunWorkspace(dir, owner);
    workspace.own(dir);
    return workspace;
  }

  /** Writes the script to `script` in the workspace, readable by its owner only, and returns its path. */
  writeScript(script: string): string {
    const path = join(this.dir, 'script');
    writeFileSync(path, script, { mode: 0o600 });
    this.own(path);
    return path;
  }

  /** Makes the empty scratch directory (the sandbox's working directory) and returns its path. */
  makeScratch(): string {
    const path = join(this.dir, 'scratch');
    mkdirSync(path, { mode: 0o700 });
    this.own(path);
    return path;
  }

  /** Removes the workspace and everything the run left in it. */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private own(path: string): void {
    if (this.owner) chownSync(path, this.owner.uid, this.owner.gid);
  }
}
