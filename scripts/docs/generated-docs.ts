/** The generated regions of docs/, each with the function that renders it. */
import { optionsTableMarkdown } from '../../src/daemon/daemon-options.js';
import { cliReferenceMarkdown } from './cli-reference.js';

/** A region of a doc that a generator owns. */
export interface GeneratedRegion {
  /** The doc, relative to the repository. */
  file: string;
  name: string;
  render(): string;
}

export const generatedRegions: readonly GeneratedRegion[] = [
  { file: 'docs/cli.md', name: 'cli-help', render: cliReferenceMarkdown },
  { file: 'docs/configuration.md', name: 'daemon-options', render: optionsTableMarkdown },
];
