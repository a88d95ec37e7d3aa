import Joi from 'joi';
import type { VendorQueueSettings } from './vendor-settings.js';

export interface PinpointSettings extends VendorQueueSettings {
  region: string;
  /** Override of the AWS endpoint (the sandbox, or a VPC endpoint). */
  endpoint?: string;
  /** Omit to use the AWS SDK's default credential chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** The Pinpoint projects (application ids) that hold people's endpoints. */
  appIds: string[];
}

export const pinpointSettingsKeys = {
  region: Joi.string().required(),
  endpoint: Joi.string().uri({ scheme: ['http', 'https'] }),
  credentials: Joi.object({ accessKeyId: Joi.string().required(), secretAccessKey: Joi.string().required() }),
  appIds: Joi.array().items(Joi.string().pattern(/^[A-Za-z0-9-]+$/)).min(1).required(),
};
