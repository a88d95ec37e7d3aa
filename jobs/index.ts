import type { TaskProcessor } from './task-processor.js';
import { deleteUserEndpoints } from './delete-user-endpoints.js';

/** Job name → processor, for every vendor task job. */
export const TASK_PROCESSORS: Readonly<Record<string, TaskProcessor>> = {
  'delete-user-endpoints': deleteUserEndpoints,
};
