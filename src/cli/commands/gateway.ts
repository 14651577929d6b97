/** `sigil gateway`: Sigil in front of MCP servers, for an AI agent speaking MCP. */
import type { Command } from 'commander';
import { runGateway } from '../../mcp/index.ts';

interface GatewayCliOptions {
  config: string;
  listen?: string;
  dataDir?: string;
}

export function registerGateway(program: Command): void {
  program
    .command('gateway')
    .description(
      'serve MCP to an agent (stdio, or Streamable HTTP with --listen) and govern every call to the upstream MCP servers of gateway.toml',
    )
    .requiredOption('--config <file>', 'gateway.toml: upstreams and the tool policy table')
    .option(
      '--listen <host:port>',
      'serve Streamable HTTP at http://host:port/mcp instead of stdio',
    )
    .option(
      '--data-dir <dir>',
      "data directory (default: $SIGIL_DATA_DIR, else gateway.toml's data_dir, else ./.sigil)",
    )
    .addHelpText(
      'after',
      "\nOver stdio the agent's token comes from SIGIL_TOKEN; over HTTP each request carries\n" +
        '"Authorization: Bearer <token>". stdout is the MCP channel; diagnostics go to stderr.\n' +
        '\nExamples:\n  SIGIL_TOKEN=sgl_… sigil gateway --config gateway.toml\n' +
        '  sigil gateway --config gateway.toml --listen 127.0.0.1:8090',
    )
    .action(async (opts: GatewayCliOptions) => {
      await runGateway({
        configFile: opts.config,
        ...(opts.listen === undefined ? {} : { listen: opts.listen }),
        ...(opts.dataDir === undefined ? {} : { dataDir: opts.dataDir }),
        env: process.env,
        onReady: ({ url }) => {
          process.stderr.write(
            url === undefined
              ? 'sigil gateway: serving MCP on stdio\n'
              : `sigil gateway: serving MCP at ${url}\n`,
          );
        },
      });
    });
}
