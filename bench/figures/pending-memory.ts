/** Figure 3: resident memory of the daemon holding 100,000 pending tasks. */
import { sleep } from '../api.js';
import { startBenchDaemon } from '../daemon-process.js';
import { runLoad } from '../load.js';
import { readMemoryMB } from '../proc-stats.js';
import type { FigureResult } from '../report.js';
import { futureTaskBody } from './submit-throughput.js';

const targetMB = 150;
const taskCount = 100_000;
const connections = 50;
const settleMs = 3000;

export async function pendingMemory(): Promise<FigureResult> {
  const daemon = await startBenchDaemon({ label: 'memory' });
  try {
    const idle = readMemoryMB(daemon.pid);
    const load = await runLoad({ url: daemon.url, method: 'POST', path: '/api/tasks', body: futureTaskBody, connections, amount: taskCount });
    const accepted = load.requests - load.non2xx;
    const loaded = readMemoryMB(daemon.pid);
    await sleep(settleMs);
    const settled = readMemoryMB(daemon.pid);
    return {
      figure: '3. RSS with 100k pending tasks',
      measured: `VmRSS ${settled.rss.toFixed(1)} MB (peak ${settled.hwm.toFixed(1)})`,
      target: `<= ${targetMB} MB`,
      met: settled.rss <= targetMB && accepted >= taskCount,
      details: [
        `submitted ${accepted} tasks (non-2xx ${load.non2xx}, errors ${load.errors}) in ${load.durationSec.toFixed(1)} s, ${Math.round(load.reqPerSec)}/s`,
        `RSS idle ${idle.rss.toFixed(1)} MB; right after the submits ${loaded.rss.toFixed(1)} MB; after ${settleMs / 1000} s settle ${settled.rss.toFixed(1)} MB; VmHWM ${settled.hwm.toFixed(1)} MB`,
        `settled RSS is ${settled.anon.toFixed(1)} MB anonymous (heaps: V8, SQLite, malloc) + ${settled.file.toFixed(1)} MB file-backed and shared (code, mapped files); idle it was ${idle.anon.toFixed(1)} + ${idle.file.toFixed(1)}`,
      ],
    };
  } finally {
    await daemon.stop();
  }
}
