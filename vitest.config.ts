import { defineConfig } from 'vitest/config';

// Unit tests: pure logic, no hosts. Integration tests: real sandbox hosts (root, namespaces);
// they share one sandbox per file and run files one at a time, so the 2-core machine is not oversubscribed.
import { fileURLToPath } from 'node:url';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    // inventories and playbooks import 'mailprov' as users do; in tests that is this checkout
    alias: [
      { find: /^mailprov$/, replacement: here('./src/index.ts') },
      { find: /^mailprov\/sandbox$/, replacement: here('./src/sandbox/index.ts') },
      { find: /^mailprov\/playbooks\/(.*)$/, replacement: here('./playbooks/$1.ts') },
    ],
  },
  test: {
    // integration files share the machine's 2 cores and start sandboxes: one file at a time
    fileParallelism: false,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // a few run the CLI as a process, several times: on a loaded 2-core machine that passes 5 s
          testTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
          sequence: { concurrent: false },
        },
      },
    ],
  },
});
