import type { Command } from 'commander';

/**
 * One worked example per command, shown at the end of its `--help`. Kept in one table so a
 * command without an example is found by a test, not by an operator.
 */
export const EXAMPLES: Record<string, string[]> = {
  'start': ['tollgate start', 'tollgate --config /etc/tollgate/production.json start'],
  'edge': ['tollgate edge'],
  'app': ['TOLLGATE_DRACHTIO__MODE=external tollgate app'],
  'db migrate': ['tollgate db migrate'],
  'db seed': ['tollgate db seed', 'tollgate db seed --force'],
  'db status': ['tollgate db status', 'tollgate db status --json'],
  'tariff check': ['tollgate tariff check', 'tollgate tariff check --json'],
  'tariff rate': ['tollgate tariff rate --service voice.public --destination 4930555123 --seconds 95 --start "2026-12-24 19:30 +01:00" --money 1.00'],
  'tariff list': ['tollgate tariff list', 'tollgate tariff list charging_rules --json'],
  'tariff export': ['tollgate tariff export ./tariffs'],
  'tariff import': ['tollgate tariff import ./tariffs --replace'],
  'vpn group add': ['tollgate vpn group add acme --name "Acme GmbH" --offnet-prefix 9 --extension-length 4'],
  'vpn group update': ['tollgate vpn group update acme --onnet-between-groups'],
  'vpn group list': ['tollgate vpn group list', 'tollgate vpn group list --json'],
  'vpn group remove': ['tollgate vpn group remove acme'],
  'vpn subscriber add': ['tollgate vpn subscriber add "+49 30 100001" --account acme-alice --plan business --home-trunk pbx'],
  'vpn subscriber update': ['tollgate vpn subscriber update +4930100001 --account acme-office --plan none'],
  'vpn subscriber list': ['tollgate vpn subscriber list', 'tollgate vpn subscriber list --json'],
  'vpn subscriber remove': ['tollgate vpn subscriber remove +4930100001'],
  'vpn member add': ['tollgate vpn member add acme 1001 +4930100001 --class international --bar-out 4919'],
  'vpn member update': ['tollgate vpn member update acme 1001 --extension 1101 --class national'],
  'vpn member list': ['tollgate vpn member list acme', 'tollgate vpn member list --json'],
  'vpn member remove': ['tollgate vpn member remove acme 1001'],
  'vpn resolve': ['tollgate vpn resolve +4930100001 1002', 'tollgate vpn resolve sip:+4930100001@pbx "9 089 1234567" --json || echo refused'],
  'group set': ['tollgate group set acme --private-prefix "*7"', 'tollgate group set acme --status suspended'],
  'group personal': ['tollgate group personal acme 1001 --account alice-private --plan private'],
  'group pool': ['tollgate group pool acme acme-pool', 'tollgate group pool acme none'],
  'group cap': ['tollgate group cap acme 1001 --per-call 2.00 --per-day 10.00 --per-month 150.00', 'tollgate group cap acme 1001 --per-day none'],
  'group budget': ['tollgate group budget acme', 'tollgate group budget acme --json'],
  'group cug add': ['tollgate group cug add sales --name "Sales team"'],
  'group cug remove': ['tollgate group cug remove sales'],
  'group cug list': ['tollgate group cug list', 'tollgate group cug list --json'],
  'group cug join': ['tollgate group cug join sales acme 1001 --no-outgoing-access --incoming-access'],
  'group cug leave': ['tollgate group cug leave sales acme 1001'],
  'group cug members': ['tollgate group cug members sales', 'tollgate group cug members --json'],
  'group short-code add': ['tollgate group short-code add acme 7001 +4930555123 --description "Supplier hotline"'],
  'group short-code remove': ['tollgate group short-code remove acme 7001'],
  'group short-code list': ['tollgate group short-code list acme', 'tollgate group short-code list --json'],
  'group screening add': ['tollgate group screening add acme --class international --day-type weekday --from 08:00 --to 18:00', 'tollgate group screening add acme --class national'],
  'group screening remove': ['tollgate group screening remove 4'],
  'group screening list': ['tollgate group screening list acme', 'tollgate group screening list --json'],
  'trunk add': ['tollgate trunk add carrier --host sbc.carrier.example --transport tcp --address 203.0.113.0/24'],
  'trunk update': ['tollgate trunk update carrier --max-calls 200 --disable'],
  'trunk list': ['tollgate trunk list', 'tollgate trunk list --json'],
  'trunk remove': ['tollgate trunk remove carrier'],
  'trunk match': ['tollgate trunk match 203.0.113.7', 'tollgate trunk match 2001:db8::7 --json'],
  'route add': ['tollgate route add +49 carrier --priority 5', 'tollgate route add "" carrier   # the default route'],
  'route update': ['tollgate route update 3 --trunk backup --priority 20'],
  'route list': ['tollgate route list', 'tollgate route list --json'],
  'route remove': ['tollgate route remove 3'],
  'account create': ['tollgate account create acme-alice --currency EUR --max-calls 3 --low-balance 2.00'],
  'account list': ['tollgate account list --status active', 'tollgate account list --kind postpaid --json'],
  'account show': ['tollgate account show acme-alice', 'tollgate account show 7 --json'],
  'account set': ['tollgate account set acme-alice --status suspended', 'tollgate account set 7 --max-calls none'],
  'account topup': ['tollgate account topup acme-alice 20.00 --key portal-payment-8812 --currency EUR'],
  'account adjust': ['tollgate account adjust acme-alice -1.50 --key ticket-4411 --note "double charge refunded"'],
  'account ledger': ['tollgate account ledger acme-alice --limit 10', 'tollgate account ledger 7 --json'],
  'account check': ['tollgate account check', 'tollgate account check --json'],
  'cdr list': ['tollgate cdr list --account acme-alice --from 2026-03-01 --disposition answered', 'tollgate cdr list --caller "4930*" --format csv'],
  'cdr show': ['tollgate cdr show 3f2a9c1e-8d5b-4c7a-9e51-0b6f2d4a7c10', 'tollgate cdr show a84b4c76e66710@pbx.example --json'],
  'cdr export': ['tollgate cdr export --from 2026-03-01 --to 2026-04-01 --output march.csv', 'tollgate cdr export --account acme-alice --format ndjson | jq .cost'],
};

/** The path of a command below the program, e.g. "account topup". */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Every command that runs something (not a group of subcommands). */
export function leafCommands(program: Command): Command[] {
  return program.commands.flatMap((c) => (c.commands.length > 0 ? leafCommands(c) : [c]));
}

/** Appends each command's examples to its `--help`, and a first session's to the program's. */
export function addExamples(program: Command): void {
  program.addHelpText('after', `\nExamples:\n${['tollgate start', 'tollgate account list', 'tollgate account topup acme-alice 20.00 --key portal-payment-8812',
    'tollgate cdr list --account acme-alice --from 2026-03-01', 'tollgate vpn resolve +4930100001 1002', 'tollgate <command> --help   # every command has an example']
    .map((l) => `  $ ${l}`).join('\n')}`);
  for (const cmd of leafCommands(program)) {
    const lines = EXAMPLES[commandPath(cmd)];
    if (lines) cmd.addHelpText('after', `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((l) => `  $ ${l}`).join('\n')}`);
  }
}
