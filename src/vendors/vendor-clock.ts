/**
 * What time it is at the vendors, in epoch milliseconds: real time in production, the sandbox
 * clock when the vendors are simulated (it runs faster, and tests move it by hand). Only waits
 * set by a vendor's own calendar read it, e.g. the day an Amplitude deletion job can first be
 * done; pacing, timeouts and job delays stay on real time.
 */
export type VendorClock = () => number;

export const REAL_TIME: VendorClock = () => Date.now();
