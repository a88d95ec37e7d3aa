import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { createPrivateKey, sign, X509Certificate, type KeyObject } from 'node:crypto';
import type { Config } from '../config/config-schema.js';
import type { Logger } from '../logger.js';

/** Which header names a response or callback carries: OpenDSR 2.0, or the OpenGDPR 1.0 aliases. */
export type OpenDsrFlavor = 'v2' | 'v1';

/**
 * Signs OpenDSR responses and callbacks (spec §6; README "OpenGDPR clients and the signature scheme"): a signature over the
 * raw body bytes with SHA-256 (RSA keys: RSASSA-PKCS1-v1_5, i.e. RSA-SHA256), base64, in
 * `X-OpenDSR-Signature`, beside `X-OpenDSR-Processor-Domain`. The key never leaves this object.
 */
export interface OpenDsrSigner {
  readonly domain: string;
  readonly certificatePem: string;
  /** True for the generated development certificate (self-signed; not for production). */
  readonly development: boolean;
  sign(raw: Buffer): string;
  headers(raw: Buffer, flavor: OpenDsrFlavor): Record<string, string>;
}

const DEFAULT_SANDBOX_DOMAIN = 'localhost';
const DAY_MS = 86_400_000;

function signerFrom(key: KeyObject, certificatePem: string, domain: string, development: boolean): OpenDsrSigner {
  const signRaw = (raw: Buffer) => sign('sha256', raw, key).toString('base64');
  return {
    domain,
    certificatePem,
    development,
    sign: signRaw,
    headers(raw, flavor) {
      const prefix = flavor === 'v1' ? 'X-OpenGDPR' : 'X-OpenDSR';
      return { [`${prefix}-Processor-Domain`]: domain, [`${prefix}-Signature`]: signRaw(raw) };
    },
  };
}

/** Problems with a key and certificate pair, worded without their contents. */
function certificateProblems(certificate: X509Certificate, key: KeyObject, domain: string, now = new Date()): string[] {
  const problems: string[] = [];
  if (!certificate.checkPrivateKey(key)) problems.push('the private key does not belong to the certificate');
  if (!certificate.checkHost(domain)) problems.push(`the certificate is not issued for ${domain} (subjectAltName)`);
  if (new Date(certificate.validTo).getTime() <= now.getTime()) problems.push('the certificate has expired');
  if (new Date(certificate.validFrom).getTime() > now.getTime()) problems.push('the certificate is not valid yet');
  return problems;
}

/**
 * The OpenDSR signer for this process, or undefined when the OpenDSR API is off:
 * - `opendsr.keyFile` + `opendsr.certificateFile` (production): loaded and checked (key matches,
 *   certificate names `processorDomain`, not expired); a problem stops the boot.
 * - sandbox mode without them: a development RSA 2048 key and self-signed certificate for
 *   `processorDomain` (default `localhost`), made once with `openssl` into `<dataDir>/opendsr/`.
 */
export async function loadOpenDsrSigner(config: Config, logger: Logger): Promise<OpenDsrSigner | undefined> {
  const settings = config.opendsr ?? {};
  if (settings.keyFile && settings.certificateFile && settings.processorDomain) {
    const key = createPrivateKey(readFileSync(path.resolve(settings.keyFile)));
    const pem = readFileSync(path.resolve(settings.certificateFile), 'utf8');
    const problems = certificateProblems(new X509Certificate(pem), key, settings.processorDomain);
    if (problems.length) throw new Error(`OpenDSR certificate (opendsr.certificateFile): ${problems.join('; ')}`);
    return signerFrom(key, pem, settings.processorDomain, false);
  }
  if (!config.sandboxMode) {
    logger.info(
      'OpenDSR processor API off: set opendsr.processorDomain, opendsr.keyFile and opendsr.certificateFile to serve /v2',
    );
    return undefined;
  }
  const domain = settings.processorDomain ?? DEFAULT_SANDBOX_DOMAIN;
  const dir = path.join(config.dataDir, 'opendsr');
  const keyFile = path.join(dir, 'development-key.pem');
  const certificateFile = path.join(dir, 'development-certificate.pem');
  const usable = () => {
    if (!existsSync(keyFile) || !existsSync(certificateFile)) return false;
    try {
      const certificate = new X509Certificate(readFileSync(certificateFile));
      const soon = new Date(Date.now() + DAY_MS);
      return certificateProblems(certificate, createPrivateKey(readFileSync(keyFile)), domain, soon).length === 0;
    } catch {
      return false;
    }
  };
  if (!usable()) {
    mkdirSync(dir, { recursive: true });
    try {
      await promisify(execFile)(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-sha256',
          '-days',
          '365',
          '-subj',
          `/CN=${domain}`,
          '-addext',
          `subjectAltName=DNS:${domain}`,
          '-keyout',
          keyFile,
          '-out',
          certificateFile,
        ],
        { timeout: 60_000 },
      );
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      logger.warn(
        missing
          ? 'OpenDSR processor API off: sandbox mode makes its development certificate with `openssl`, which is not installed (or configure opendsr.keyFile / opendsr.certificateFile)'
          : 'OpenDSR processor API off: `openssl` could not make the development certificate',
        { errorName: (err as Error).name },
      );
      return undefined;
    }
    chmodSync(keyFile, 0o600);
    logger.info('OpenDSR: made a development certificate (self-signed: for the sandbox only)', {
      domain,
      certificateFile,
    });
  }
  return signerFrom(createPrivateKey(readFileSync(keyFile)), readFileSync(certificateFile, 'utf8'), domain, true);
}
