import type { Command } from '../command.js';
import { cancelCommand } from './cancel.js';
import { doctorCommand } from './doctor.js';
import { listCommand } from './list.js';
import { projectCommand } from './project.js';
import { queuesCommand } from './queues.js';
import { receiptCommand } from './receipt.js';
import { retryCommand } from './retry.js';
import { scopeCommand } from './scope.js';
import { statusCommand } from './status.js';
import { submitCommand } from './submit.js';
import { taskCommand } from './task.js';

/** The client commands of `erasure`, in the order `erasure --help` lists them. */
export const CLIENT_COMMANDS: readonly Command[] = [
  submitCommand,
  statusCommand,
  listCommand,
  retryCommand,
  cancelCommand,
  receiptCommand,
  taskCommand,
  queuesCommand,
  projectCommand,
  scopeCommand,
  doctorCommand,
];
