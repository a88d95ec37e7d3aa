import Joi from 'joi';

/**
 * Reminders and escalations of manual work (issue 19, item 3): per-request manual tasks and guided
 * scope deletions. Each kind of work has an assignee (a token name) and a due time; reminders go
 * out at offsets before it, escalations at offsets after it, through the configured notifiers.
 */
export interface ManualWorkSettings {
  /** Assignee per kind (a manual task's action, or a scope deletion kind); `default` otherwise. */
  assignees: Record<string, string>;
  /** Hours from when a manual task waits (or a scope deletion is drafted) until its step is due; `default` otherwise. */
  dueHours: Record<string, number>;
  /** Reminders, this many hours before the due time. */
  remindBeforeHours: number[];
  /** Escalations, this many hours after the due time. */
  escalateAfterHours: number[];
  /** A signed webhook (the callbacks' signer and private-network guard). */
  webhookUrl?: string;
  /** E-mail over SMTP (nodemailer). */
  smtp?: { host: string; port: number; secure: boolean; from: string; to: string[]; escalateTo: string[] };
  /** How often the sweep runs. */
  everyMs: number;
}

export const manualWorkFileSchema = Joi.object({
  assignees: Joi.object().pattern(/^[a-z0-9-_]+$/, Joi.string().pattern(/^[A-Za-z0-9._-]{1,64}$/)),
  dueHours: Joi.object().pattern(
    /^[a-z0-9-_]+$/,
    Joi.number()
      .min(0)
      .max(24 * 365),
  ),
  remindBeforeHours: Joi.array()
    .items(
      Joi.number()
        .min(0)
        .max(24 * 365),
    )
    .max(10),
  escalateAfterHours: Joi.array()
    .items(
      Joi.number()
        .min(0)
        .max(24 * 365),
    )
    .max(10),
  webhookUrl: Joi.string().uri({ scheme: ['http', 'https'] }),
  smtp: Joi.object({
    host: Joi.string().hostname().required(),
    port: Joi.number().port().required(),
    secure: Joi.boolean(),
    from: Joi.string().email({ tlds: false }).required(),
    to: Joi.array()
      .items(Joi.string().email({ tlds: false }))
      .min(1)
      .required(),
    escalateTo: Joi.array().items(Joi.string().email({ tlds: false })),
  }),
  everyMs: Joi.number().integer().min(1000),
});

/** The defaults: due times from the vendors' timings (a scope deletion's own `expectedBy` once sent). */
type SmtpFile = Omit<NonNullable<ManualWorkSettings['smtp']>, 'secure' | 'escalateTo'> & {
  secure?: boolean;
  escalateTo?: string[];
};

type ManualWorkFile = Omit<Partial<ManualWorkSettings>, 'smtp'> & { smtp?: SmtpFile };

export function manualWorkSettings(file: ManualWorkFile): ManualWorkSettings;
export function manualWorkSettings(file: ManualWorkFile | undefined): ManualWorkSettings | undefined;
export function manualWorkSettings(file: ManualWorkFile | undefined): ManualWorkSettings | undefined {
  if (!file) return undefined;
  return {
    assignees: { default: 'on-call', ...(file.assignees ?? {}) },
    dueHours: { default: 72, 'segment-space': 24, 'amplitude-data': 72, 'aws-account': 168, ...(file.dueHours ?? {}) },
    remindBeforeHours: file.remindBeforeHours ?? [24],
    escalateAfterHours: file.escalateAfterHours ?? [0, 48],
    webhookUrl: file.webhookUrl,
    smtp: file.smtp
      ? { ...file.smtp, secure: file.smtp.secure ?? false, escalateTo: file.smtp.escalateTo ?? [] }
      : undefined,
    everyMs: file.everyMs ?? 60_000,
  };
}
