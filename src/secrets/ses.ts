// Amazon SES's SMTP password, derived from an IAM user's secret access key as AWS documents it
// ("Obtaining Amazon SES SMTP credentials", its smtp_credentials_generate.py): a SigV4 signing key
// chain over a fixed date, the region, "ses" and "aws4_request", then the message "SendRawEmail",
// prefixed with the version byte 4 and base64-encoded. The password is per region.
import { createHmac } from 'node:crypto';

const DATE = '11111111';
const SERVICE = 'ses';
const TERMINAL = 'aws4_request';
const MESSAGE = 'SendRawEmail';
const VERSION = 0x04;

/** An AWS region as SES names its endpoints: us-east-1, eu-west-1, us-gov-west-1. */
export const AWS_REGION = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;

const sign = (key: Buffer, message: string) => createHmac('sha256', key).update(message, 'utf8').digest();

export function deriveSesSmtpPassword(secretAccessKey: string, region: string): string {
  let signature = sign(Buffer.from(`AWS4${secretAccessKey}`, 'utf8'), DATE);
  for (const part of [region, SERVICE, TERMINAL, MESSAGE]) signature = sign(signature, part);
  return Buffer.concat([Buffer.from([VERSION]), signature]).toString('base64');
}
