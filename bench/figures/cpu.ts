/** Who used the CPU during a measurement: the daemon, the load generator, everything else. */
import { cpus } from 'node:os';
import { cpuMeter, machineCpuMeter } from '../proc-stats.js';

/** CPU used by this process (the load generator), in cores, since the meter was made. */
export function processCpuMeter(): () => number {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const used = process.cpuUsage(cpu0);
    return (used.user + used.system) / 1000 / (performance.now() - t0);
  };
}

export interface CpuSplit {
  daemon: number;
  loadGenerator: number;
  machine: number;
  /** Kernel work not charged to either process, and every other process. */
  others: number;
  line: string;
}

/** Starts measuring; the returned function gives the split since then, in cores. */
export function cpuSplit(daemonPid: number): () => CpuSplit {
  const daemonMeter = cpuMeter(daemonPid);
  const ownMeter = processCpuMeter();
  const machineMeter = machineCpuMeter();
  return () => {
    const daemon = daemonMeter();
    const loadGenerator = ownMeter();
    const machine = machineMeter();
    const others = Math.max(0, machine - daemon - loadGenerator);
    const line =
      `CPU in cores (machine has ${cpus().length}): daemon ${daemon.toFixed(2)}, load generator ${loadGenerator.toFixed(2)}, ` +
      `everything else ${others.toFixed(2)} (kernel network work and other processes); machine busy ${machine.toFixed(2)}`;
    return { daemon, loadGenerator, machine, others, line };
  };
}

/** Microseconds of server CPU per request: a measure that other load on the machine disturbs less than req/s. */
export function cpuPerRequestUs(cores: number, reqPerSec: number): number {
  return (cores * 1e6) / reqPerSec;
}
