/** Whether times show in UTC or the browser's zone: the header's toggle, remembered per browser. */
import type { ZoneChoice } from './format.js';

const key = 'scheduler.zone';

export function savedZone(): ZoneChoice {
  return localStorage.getItem(key) === 'local' ? 'local' : 'utc';
}

export function saveZone(zone: ZoneChoice): void {
  localStorage.setItem(key, zone);
}
