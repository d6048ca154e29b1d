import { defineConfig, mergeConfig } from 'vitest/config';
import main from './vitest.config.js';

/**
 * The core tests alone (test/core: the pure code of src/core/, no process, no disk): the test
 * command of mutation testing (stryker.config.mjs), which runs them once per mutant.
 */
export default mergeConfig(main, defineConfig({ test: { include: ['test/core/**/*.test.ts'] } }));
