// Type-checks grafana/ece-o365-exporter.json against Grafana's own schema
// types (@grafana/schema, the TypeScript generated from Grafana's CUE
// schema): the dashboard against `Dashboard`, every variable against
// `VariableModel`, every panel against `Panel`/`RowPanel`, and each panel's
// `options` and `fieldConfig.defaults.custom` against the types of its
// visualization (stat, timeseries, table, bargauge, state-timeline).
// Object literals are checked strictly, so a misspelt or unknown key fails.
//
//   cd grafana/schema-check && npm ci && npm run check
//
// Not part of `cargo test`: it needs the npm registry once for `npm ci`.
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dash = JSON.parse(readFileSync(join(here, '..', 'ece-o365-exporter.json'), 'utf8'));
const cfg = '@grafana/schema/dist/esm/raw/composable';
const byType = {
  stat: ['StatOptions', null],
  timeseries: ['TimeSeriesOptions', 'TimeSeriesFieldConfig'],
  table: ['TableOptions', 'TableFieldConfig'],
  bargauge: ['BarGaugeOptions', null],
  'state-timeline': ['StateTimelineOptions', 'StateTimelineFieldConfig'],
};
const lit = (v) => JSON.stringify(v, null, 2);
const out = [
  "import type { Dashboard, Panel, RowPanel, VariableModel } from '@grafana/schema';",
  `import type { Options as StatOptions } from '${cfg}/stat/panelcfg/x/StatPanelCfg_types.gen';`,
  `import type { Options as TimeSeriesOptions, FieldConfig as TimeSeriesFieldConfig } from '${cfg}/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen';`,
  `import type { Options as TableOptions, FieldConfig as TableFieldConfig } from '${cfg}/table/panelcfg/x/TablePanelCfg_types.gen';`,
  `import type { Options as BarGaugeOptions } from '${cfg}/bargauge/panelcfg/x/BarGaugePanelCfg_types.gen';`,
  `import type { Options as StateTimelineOptions, FieldConfig as StateTimelineFieldConfig } from '${cfg}/statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen';`,
  '',
  '// JSON spells enum members as their string values: accept those for string enums.',
  'type Json<T> = T extends string ? `${T}` : T extends readonly (infer U)[] ? Json<U>[] : T extends object ? { [K in keyof T]: Json<T[K]> } : T;',
  '',
  `export const dashboard: Json<Dashboard> = ${lit(dash)};`,
];
dash.templating.list.forEach((v, i) => out.push(`export const variable${i}: Json<VariableModel> = ${lit(v)};`));
for (const p of dash.panels) {
  if (p.type === 'row') {
    out.push(`export const panel${p.id}: Json<RowPanel> = ${lit(p)};`);
    continue;
  }
  const types = byType[p.type];
  if (!types) throw new Error(`panel ${p.id} (${p.title}): no schema type for visualization ${p.type}`);
  out.push(`export const panel${p.id}: Json<Panel> = ${lit(p)};`);
  out.push(`export const options${p.id}: Json<${types[0]}> = ${lit(p.options)};`);
  if (types[1]) out.push(`export const custom${p.id}: Json<${types[1]}> = ${lit(p.fieldConfig.defaults.custom ?? {})};`);
}
writeFileSync(join(here, 'dashboard.gen.ts'), out.join('\n') + '\n');
try {
  execFileSync(join(here, 'node_modules', '.bin', 'tsc'), ['-p', here], { stdio: 'inherit' });
} catch {
  console.error('ece-o365-exporter.json does not match @grafana/schema (see above; the line numbers are in dashboard.gen.ts)');
  process.exit(1);
}
console.log(`ece-o365-exporter.json matches @grafana/schema: ${dash.panels.length} panels, ${dash.templating.list.length} variables`);
