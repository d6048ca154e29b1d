/**
 * Generated regions of hand-written docs: the text between a begin and an end marker belongs
 * to a generator, so the prose around it can be edited freely while the region cannot drift.
 */

/** The marker that opens region `name`. */
export const beginMarker = (name: string): string => `<!-- begin generated: ${name} (by npm run docs; do not edit until the end marker) -->`;

/** The marker that closes region `name`. */
export const endMarker = (name: string): string => `<!-- end generated: ${name} -->`;

/** `text` with region `name` holding `content`; throws if the markers are missing or out of order. */
export function replaceRegion(text: string, name: string, content: string, file: string): string {
  const begin = text.indexOf(beginMarker(name));
  const end = text.indexOf(endMarker(name));
  if (begin < 0 || end < begin) {
    throw new Error(`${file} has no generated region "${name}": put the lines\n${beginMarker(name)}\n${endMarker(name)}\nwhere it belongs, then run npm run docs`);
  }
  const head = text.slice(0, begin + beginMarker(name).length);
  const tail = text.slice(end);
  return `${head}\n${content.trimEnd()}\n${tail}`;
}
