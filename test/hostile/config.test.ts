import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

/**
 * Hostile or mistaken configuration values: start-up stops with a ConfigError that names the variable, and the
 * message never repeats a secret that was set beside it.
 */

const SECRETS = {
  FAL_KEY: 'fal-canary-secret-123',
  ARK_API_KEY: 'ark-canary-secret-456',
  KIE_API_KEY: 'kie-canary-secret-789',
  MODERATION_API_KEY: 'mod-canary-secret-000',
};

/** [variable named in the error, the environment] */
const BAD: [string, Record<string, string>][] = [
  ['LOG_LEVEL', { LOG_LEVEL: 'verbose' }],
  ['LOG_LEVEL', { LOG_LEVEL: 'INFO' }],
  ['LOG_LEVEL', { LOG_LEVEL: 'info; rm -rf /' }],
  ['HTTP_PORT', { HTTP_PORT: '-1' }],
  ['HTTP_PORT', { HTTP_PORT: '65536' }],
  ['HTTP_PORT', { HTTP_PORT: '80.5' }],
  ['HTTP_PORT', { HTTP_PORT: 'http' }],
  ['HTTP_PORT', { HTTP_PORT: 'NaN' }],
  ['HTTP_PORT', { HTTP_PORT: '99999999999999999999' }],
  ['DISCORD_API_BASE', { DISCORD_API_BASE: 'ftp://discord.com/api' }],
  ['DISCORD_API_BASE', { DISCORD_API_BASE: 'javascript:alert(1)' }],
  ['DISCORD_API_BASE', { DISCORD_API_BASE: 'not a url' }],
  ['TELEGRAM_API_ROOT', { TELEGRAM_API_ROOT: 'https://api.telegram.org/' }],
  ['TELEGRAM_API_ROOT', { TELEGRAM_API_ROOT: 'gopher://127.0.0.1:70' }],
  ['FAL_QUEUE_URL', { FAL_QUEUE_URL: 'file:///var/run/fal.sock' }],
  ['FAL_QUEUE_URL', { FAL_QUEUE_URL: 'data:,hello' }],
  ['FAL_JWKS_URL', { FAL_JWKS_URL: 'ws://127.0.0.1/jwks' }],
  ['ARK_BASE_URL', { ARK_BASE_URL: 'localhost:8080' }],
  ['ARK_MODEL_ID', { ARK_MODEL_ID: 'model/../../x' }],
  ['ARK_MODEL_ID', { ARK_MODEL_ID: 'a model' }],
  ['ARK_MODEL_ID', { ARK_MODEL_ID: 'm'.repeat(101) }],
  ['ARK_SEEDANCE_1_5_PRO_MODEL_ID', { ARK_SEEDANCE_1_5_PRO_MODEL_ID: 'model?x=1' }],
  ['ARK_SEEDANCE_2_MODEL_ID', { ARK_SEEDANCE_2_MODEL_ID: 'model/../../x' }],
  ['ARK_SEEDANCE_2_FAST_MODEL_ID', { ARK_SEEDANCE_2_FAST_MODEL_ID: 'a model' }],
  ['ARK_SERVICE_TIER', { ARK_SERVICE_TIER: 'FLEX' }],
  ['ARK_SERVICE_TIER', { ARK_SERVICE_TIER: 'scale' }],
  ['KIE_BASE_URL', { KIE_BASE_URL: 'http//api.kie.ai' }],
  ['PUBLIC_URL', { PUBLIC_URL: 'bot.example.com' }],
  ['PUBLIC_URL', { PUBLIC_URL: 'ftp://bot.example.com' }],
  ['STORAGE', { STORAGE: 'gcs' }],
  ['STORAGE', { STORAGE: 'S3' }],
  ['S3_ENDPOINT', { STORAGE: 's3' }],
  ['S3_BUCKET', { STORAGE: 's3', S3_ENDPOINT: 'http://127.0.0.1:9000' }],
  [
    'S3_SECRET_ACCESS_KEY',
    {
      STORAGE: 's3',
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      S3_BUCKET: 'b',
      S3_ACCESS_KEY_ID: 'id',
      S3_PUBLIC_URL: 'http://127.0.0.1:9000/b',
    },
  ],
  ['S3_ENDPOINT', { S3_ENDPOINT: 'minio:9000' }],
  ['S3_FORCE_PATH_STYLE', { S3_FORCE_PATH_STYLE: 'maybe' }],
  ['S3_FORCE_PATH_STYLE', { S3_FORCE_PATH_STYLE: 'TRUE' }],
  ['S3_PUBLIC_URL', { S3_PUBLIC_URL: 'javascript:alert(1)' }],
  ['OWNER_IDS', { OWNER_IDS: 'evil' }],
  ['OWNER_IDS', { OWNER_IDS: 'slack:123' }],
  ['OWNER_IDS', { OWNER_IDS: 'discord:' }],
  ['OWNER_IDS', { OWNER_IDS: 'discord:1 2' }],
  ['OWNER_IDS', { OWNER_IDS: 'discord:1,<@2>' }],
  ['FREE_DAILY_CREDITS', { FREE_DAILY_CREDITS: '-5' }],
  ['FREE_DAILY_CREDITS', { FREE_DAILY_CREDITS: '1.5' }],
  ['FREE_DAILY_CREDITS', { FREE_DAILY_CREDITS: 'lots' }],
  ['STARTING_CREDITS', { STARTING_CREDITS: '-1' }],
  ['STARTING_CREDITS', { STARTING_CREDITS: 'NaN' }],
  ['STARTING_CREDITS', { STARTING_CREDITS: '9007199254740993' }],
  ['MODERATION_URL', { MODERATION_URL: 'file:///etc/passwd' }],
  ['MODERATION_TIMEOUT_MS', { MODERATION_TIMEOUT_MS: '99' }],
  ['MODERATION_TIMEOUT_MS', { MODERATION_TIMEOUT_MS: '60001' }],
  ['MODERATION_FAIL_OPEN', { MODERATION_FAIL_OPEN: 'sometimes' }],
  ['BUDGET_DAILY_USD', { BUDGET_DAILY_USD: '-1' }],
  ['BUDGET_DAILY_USD', { BUDGET_DAILY_USD: '0' }],
  ['BUDGET_DAILY_USD', { BUDGET_DAILY_USD: 'Infinity' }],
  ['BUDGET_DAILY_USD', { BUDGET_DAILY_USD: 'ten' }],
  ['BUDGET_MONTHLY_USD', { BUDGET_MONTHLY_USD: '-0.01' }],
  ['BUDGET_WARN_PERCENT', { BUDGET_WARN_PERCENT: '0' }],
  ['BUDGET_WARN_PERCENT', { BUDGET_WARN_PERCENT: '101' }],
  ['BUDGET_WARN_PERCENT', { BUDGET_WARN_PERCENT: '80%' }],
  ['BUDGET_WARN_PERCENT', { BUDGET_WARN_PERCENT: '0.8' }],
  ['BUDGET_WARN_PERCENT', { BUDGET_WARN_PERCENT: 'eighty' }],
  ['OWNER_ALERT_CHAT', { OWNER_ALERT_CHAT: 'discord' }],
  ['OWNER_ALERT_CHAT', { OWNER_ALERT_CHAT: 'slack:123' }],
  ['OWNER_ALERT_CHAT', { OWNER_ALERT_CHAT: 'discord:#general' }],
  ['OWNER_ALERT_CHAT', { OWNER_ALERT_CHAT: 'discord:<#123>' }],
  ['OWNER_ALERT_CHAT', { OWNER_ALERT_CHAT: 'telegram:@my_channel' }],
  ['OWNER_ALERT_CHAT', { OWNER_ALERT_CHAT: 'discord:1,discord:2' }],
  ['OWNER_ALERT_CHAT', { OWNER_ALERT_CHAT: 'discord:1234 ' + 'x' }],
  ['OWNER_ALERT_CHAT', { OWNER_ALERT_CHAT: `discord:${'9'.repeat(21)}` }],
  ['OWNER_ALERT_CHAT', { OWNER_ALERT_CHAT: 'discord:310000000000000001' }],
  ['OWNER_ALERT_CHAT', { OWNER_ALERT_CHAT: 'telegram:-1001234567890' }],
  ['PROVIDER_ALERT_ERRORS', { PROVIDER_ALERT_ERRORS: '0' }],
  ['PROVIDER_ALERT_ERRORS', { PROVIDER_ALERT_ERRORS: '-5' }],
  ['PROVIDER_ALERT_ERRORS', { PROVIDER_ALERT_ERRORS: '2.5' }],
  ['PROVIDER_ALERT_ERRORS', { PROVIDER_ALERT_ERRORS: '1001' }],
  ['PROVIDER_ALERT_ERRORS', { PROVIDER_ALERT_ERRORS: 'many' }],
  ['RATE_LIMIT_JOBS', { RATE_LIMIT_JOBS: '0' }],
  ['RATE_LIMIT_WINDOW_S', { RATE_LIMIT_WINDOW_S: '0' }],
  ['USER_MAX_PENDING_JOBS', { USER_MAX_PENDING_JOBS: '0' }],
  ['USER_MAX_RUNNING_JOBS', { USER_MAX_RUNNING_JOBS: '-1' }],
  ['DAILY_JOB_QUOTA', { DAILY_JOB_QUOTA: '-1' }],
  ['MAX_RUNNING_JOBS', { MAX_RUNNING_JOBS: '0' }],
  ['PROVIDER_MAX_RUNNING_JOBS', { PROVIDER_MAX_RUNNING_JOBS: '1.5' }],
  ['STATUS_EDIT_INTERVAL_MS', { STATUS_EDIT_INTERVAL_MS: '-1' }],
  ['MAX_RESULT_MB', { MAX_RESULT_MB: '0' }],
  ['MEDIA_RETENTION_DAYS', { MEDIA_RETENTION_DAYS: '0' }],
  ['MAX_INPUT_IMAGE_MB', { MAX_INPUT_IMAGE_MB: 'big' }],
  ['FETCH_TIMEOUT_S', { FETCH_TIMEOUT_S: '0' }],
  ['SHUTDOWN_GRACE_S', { SHUTDOWN_GRACE_S: '601' }],
  ['FETCH_ALLOW_CIDRS', { FETCH_ALLOW_CIDRS: '10.0.0.0/33' }],
  ['FETCH_ALLOW_CIDRS', { FETCH_ALLOW_CIDRS: 'everything' }],
  ['FETCH_ALLOW_CIDRS', { FETCH_ALLOW_CIDRS: '*' }],
  ['FETCH_ALLOW_CIDRS', { FETCH_ALLOW_CIDRS: '::1/129' }],
  ['FETCH_ALLOW_CIDRS', { FETCH_ALLOW_CIDRS: '127.0.0.0/8,localhost' }],
  ['TELEGRAM_WEBHOOK_SECRET', { TELEGRAM_WEBHOOK_SECRET: 'tg-webhook-canary-secret' }],
];

describe('hostile configuration values', () => {
  it.each(BAD)('refuses a bad %s with a ConfigError naming it', (variable, env) => {
    let error: unknown;
    try {
      loadConfig({ ...SECRETS, ...env });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems.some((p) => p.startsWith(variable))).toBe(true);
    const message = (error as ConfigError).message;
    for (const secret of [...Object.values(SECRETS), 'tg-webhook-canary-secret']) expect(message).not.toContain(secret);
  });
});
