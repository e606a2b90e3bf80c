import { z } from 'zod';
import { findModel, RESOLUTIONS, type ModelSpec, type Resolution } from './catalog.js';

/**
 * The owner's price table (`MODEL_PRICES`, a JSON file): per model, what members pay in credits and what the provider
 * charges the owner in USD, both for a 5 s clip by resolution (a music video: one flat figure each). Anything left
 * out keeps the catalog's figure, so a table may name one model, or one resolution of one model.
 *
 *   { "seedance-1-pro": { "credits": { "720p": 60 }, "usd": { "720p": 0.3 } },
 *     "suno-music-video": { "credits": 40 } }
 */

const credits = z.number().int('credits must be whole').positive('credits must be above 0').max(1_000_000);
const usd = z.number().nonnegative('USD must not be negative').max(10_000);
const byResolution = <T extends z.ZodType>(value: T) => z.partialRecord(z.enum(RESOLUTIONS), value);

const entrySchema = z.strictObject({
  credits: z.union([credits, byResolution(credits)]).optional(),
  usd: z.union([usd, byResolution(usd)]).optional(),
});

const priceTableSchema = z.record(z.string().min(1).max(60), entrySchema);
export type PriceTable = z.output<typeof priceTableSchema>;

/** Parses a price table (JSON already parsed) and checks it against the models; problems say where and what. */
export function parsePriceTable(
  json: unknown,
  models: readonly ModelSpec[],
): { table?: PriceTable; problems: string[] } {
  const parsed = priceTableSchema.safeParse(json);
  if (!parsed.success)
    return {
      problems: plainIssues(parsed.error.issues).map(
        (i) =>
          `${i.path.map((p, n) => (n === 0 ? JSON.stringify(p) : String(p))).join('.') || 'the file'}: ${i.message}`,
      ),
    };
  const problems = priceTableProblems(parsed.data, models);
  return problems.length ? { problems } : { table: parsed.data, problems };
}

/**
 * A figure is a number or a record of them, and a union reports both branches: keep the branch that matches the
 * kind of value given (a record's "credits must be whole", not "expected number, received object").
 */
function plainIssues(
  issues: readonly z.core.$ZodIssue[],
  prefix: PropertyKey[] = [],
): { path: PropertyKey[]; message: string }[] {
  return issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path];
    if (issue.code !== 'invalid_union') return [{ path, message: issue.message }];
    const branch =
      issue.errors.find(
        (branchIssues) => !branchIssues.some((i) => i.code === 'invalid_type' && i.path.length === 0),
      ) ??
      issue.errors[0] ??
      [];
    return plainIssues(branch, path);
  });
}

/**
 * The table checked against the models it prices: each problem names the model and what is wrong, as an owner
 * would need to fix it (an unknown id, a resolution the model is not made at, a flat price for a video model).
 */
function priceTableProblems(table: PriceTable, models: readonly ModelSpec[]): string[] {
  const problems: string[] = [];
  for (const [id, entry] of Object.entries(table)) {
    const model = findModel(id, models);
    if (!model) {
      problems.push(`"${id}": no such model (models: ${models.map((m) => m.id).join(', ')})`);
      continue;
    }
    for (const field of ['credits', 'usd'] as const) {
      const value = entry[field];
      if (value === undefined) continue;
      if (model.flat && typeof value !== 'number')
        problems.push(`"${id}".${field}: ${model.id} has one price per video; give a number`);
      if (!model.flat && typeof value === 'number')
        problems.push(
          `"${id}".${field}: give a figure per resolution, e.g. { "${model.defaultResolution}": ${value} }`,
        );
      if (!model.flat && typeof value === 'object') {
        for (const resolution of Object.keys(value) as Resolution[]) {
          if (!model.resolutions.includes(resolution))
            problems.push(
              `"${id}".${field}.${resolution}: ${model.id} is made at ${model.resolutions.join(', ')} only`,
            );
        }
      }
    }
  }
  return problems;
}

/** The models with the table's prices in place of the catalog's; call `priceTableProblems` first. */
export function withPrices(models: readonly ModelSpec[], table: PriceTable | undefined): ModelSpec[] {
  if (!table) return [...models];
  const byModel = new Map(Object.entries(table).map(([id, entry]) => [findModel(id, models)?.id, entry]));
  return models.map((model) => {
    const entry = byModel.get(model.id);
    if (!entry) return model;
    if (model.flat) {
      return {
        ...model,
        flat: {
          ...model.flat,
          ...(typeof entry.credits === 'number' ? { credits: entry.credits } : {}),
          ...(typeof entry.usd === 'number' ? { usd: entry.usd } : {}),
        },
      };
    }
    return {
      ...model,
      creditsPer5s: { ...model.creditsPer5s, ...(typeof entry.credits === 'object' ? entry.credits : {}) },
      usdPer5s: { ...model.usdPer5s, ...(typeof entry.usd === 'object' ? entry.usd : {}) },
    };
  });
}
