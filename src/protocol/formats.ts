/**
 * The written forms of values on the wire, shared by both ends: Go-style durations (a task's
 * `timeout`, `jitter`, an interval `time`) and byte sizes (`memory`, `output` limits). The
 * core parses them from submissions, so they are defined there; a client writes and shows
 * the same forms, and takes them from here.
 */
export { formatDuration } from '../core/duration.js';
export { formatByteSize } from '../core/byte-size.js';
/** Whether a task's `time` is an interval ("10s", "1h30m") rather than a calendar expression. */
export { looksLikeDuration } from '../core/submission.js';
