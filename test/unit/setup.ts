// Runs before each unit test file. The unit project shares one process per worker between files
// (isolate: false in vitest.config.ts, for speed), so state a module keeps for the whole process
// is put back here, as a fresh process would have it, and no file depends on the ones before it.
import { forgetRegisteredSecrets } from '../../src/secrets/index.ts';

// the redactor's registry (process-wide by design): a file's short test passwords ("p", "a") would
// mask words in the output the next file checks
forgetRegisteredSecrets();
