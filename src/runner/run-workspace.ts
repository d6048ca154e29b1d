/**
 * A directory of one run, outside the daemon's data directory, for what the run's own user
 * must reach: the script file of a run as another user (the data directory is the daemon's
 * alone), and the sandbox's scratch directory. It is removed with everything in it when the
 * run ends, so a run leaves nothing behind.
 *
 * Layout: ROOT/TASK.RUN-XXXXXX/ holding `script` (0600) and, for the sandbox, `scratch/`
 * (0700), both owned by the run's user. ROOT and the run's directory belong to the daemon
 * and are 0711: the run's user may pass through them to its own entries, but nobody else
 * may list, add, rename or replace anything in them. That matters when the daemon is root:
 * an entry swapped for a symlink between its creation and its use would have root write
 * the script, or bubblewrap bind the scratch directory, wherever the link points.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Who owns the workspace: the user the run executes as. */
export interface WorkspaceOwner {
  uid: number;
  gid: number;
}

/** A workspace that cannot be removed is tried again after 1, 2, 4... seconds, this many times in all. */
const removeAttempts = 6;
const removeRetryMs = 1000;

export class RunWorkspace {
  private constructor(
    readonly dir: string,
    private readonly owner: WorkspaceOwner | undefined,
  ) {}

  /** Makes the directory of run `run` of `taskId` under `root`. */
  static create(root: string, taskId: string, run: number, owner?: WorkspaceOwner): RunWorkspace {
    ensureOwnRoot(root);
    // Task ids are limited to [A-Za-z0-9._-], so they are safe in a file name.
    const dir = mkdtempSync(join(root, `${taskId}.${run}-`));
    const workspace = new RunWorkspace(dir, owner);
    try {
      chmodSync(dir, 0o711);
    } catch (error) {
      workspace.remove();
      throw error;
    }
    return workspace;
  }

  /** Writes the script to `script` in the workspace, readable by its owner only, and returns its path. */
  writeScript(script: string): string {
    const path = join(this.dir, 'script');
    // 'wx': created here and now, never an existing file (or link) written through.
    writeFileSync(path, script, { mode: 0o600, flag: 'wx' });
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

  /**
   * Removes the workspace and everything the run left in it. It never throws: a run that
   * ends must be recorded whatever its directory does. Removal reads directories, so it
   * fails when no file descriptor is left (EMFILE); it is then tried again a few times, a
   * little later each time, and what is still there is removed at the next start of the daemon.
   */
  remove(): void {
    this.tryRemove(0);
  }

  private tryRemove(attempt: number): void {
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {
      if (attempt + 1 >= removeAttempts) return;
      setTimeout(() => this.tryRemove(attempt + 1), removeRetryMs * 2 ** attempt).unref();
    }
  }

  private own(path: string): void {
    if (this.owner) chownSync(path, this.owner.uid, this.owner.gid);
  }
}

/**
 * Makes `root` (0711) unless it exists, and checks that it is a real directory of the
 * daemon's that no one else can write: a directory someone else made there first (it lives
 * in a shared /tmp) would let them swap a run's entries.
 */
function ensureOwnRoot(root: string): void {
  mkdirSync(root, { recursive: true, mode: 0o711 });
  const stat = lstatSync(root);
  const uid = process.getuid?.();
  if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid)) {
    throw new Error(`${root} is not a directory of the daemon's user (someone else made it?); remove it and try again`);
  }
  chmodSync(root, 0o711);
}
