/** The `sigil` executable's entry point (bin/sigil runs this, compiled or through tsx). */
import { main } from './program.ts';

await main(process.argv);
