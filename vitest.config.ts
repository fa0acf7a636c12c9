import { defineConfig } from 'vitest/config';

// Two projects, in one queue of workers (one sequence.groupOrder): the integration files first,
// slowest first, then the unit files, which fill the workers the last integration files leave idle
// (run one after the other, the unit project added its whole time to the suite's). Vitest orders
// the projects of a queue by name: "integration" comes before "unit".
// - "unit": no sandbox hosts and no root. Logic, and what runs on this machine alone: the CLI as a
//   process, host-side shell scripts in temporary folders, a smart host on loopback.
// - "integration": real sandbox hosts (root, namespaces), one sandbox per file (or per describe).
//   Files run a few at a time: most of a file's time is waiting on its hosts (apt, dpkg, sendmail
//   starting, timeouts), and each file's sandbox is its own (a mkdtemp folder, its own namespaces,
//   ports bound by the OS, bases built beside the cache and renamed), so two files never collide.
//   MAILPROV_TEST_WORKERS=1 runs them one at a time.
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/**
 * Integration files at once: one more than the cores, at most 6. A file waits on its hosts often
 * enough (sendmail starting, timeouts, dpkg) that 2 files left a 2-core machine a third idle;
 * measured there, all integration files: 2 at a time about 620 s, 3 at a time 424 s, the CPU 82% busy.
 */
const workers = Number(process.env.MAILPROV_TEST_WORKERS ?? Math.min(6, availableParallelism() + 1));

export default defineConfig({
  // Vitest keeps each file's last duration here and starts the slowest files first, so the
  // integration workers end together rather than one running a long file alone at the end. Outside
  // node_modules, which `npm ci` deletes: without durations, files start largest first.
  cacheDir: '.cache/vite',
  resolve: {
    // inventories and playbooks import 'mailprov' as users do; in tests that is this checkout
    alias: [
      { find: /^mailprov$/, replacement: here('./src/index.ts') },
      { find: /^mailprov\/sandbox$/, replacement: here('./src/sandbox/index.ts') },
      { find: /^mailprov\/playbooks\/(.*)$/, replacement: here('./playbooks/$1.ts') },
    ],
  },
  test: {
    // tests send nothing beyond this machine: a `plan --probe` that no test pointed at a DNS server
    // of its own asks loopback (where nothing answers), never the system's resolver
    env: { MAILPROV_DNS_SERVERS: '127.0.0.1:1' },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // the same as integration's: projects that share a queue share its size
          maxWorkers: workers,
          // files share their worker's process (module cache, environment) rather than each starting
          // afresh: 86 CPU-s -> 46 here. What a module keeps for the process is reset per file by
          // the setup file; a test that changes the environment or cwd puts it back.
          isolate: false,
          setupFiles: ['test/unit/setup.ts'],
          sequence: { groupOrder: 0 },
          // a few run the CLI as a process, several times: on a loaded 2-core machine that passes 5 s
          testTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          maxWorkers: workers,
          testTimeout: 300_000,
          hookTimeout: 600_000,
          // the tests of one file share its sandbox: one after the other
          sequence: { concurrent: false, groupOrder: 0 },
        },
      },
    ],
  },
});
