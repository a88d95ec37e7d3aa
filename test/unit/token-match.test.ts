import { expect } from 'chai';
import {
  containsToken,
  equalsIdentifier,
  namesAny,
  redactIdentifiers,
  subjectNeedles,
  type Needle,
} from '../../src/privacy/token-match.js';

const email = (value: string): Needle => ({ kind: 'email', value, caseInsensitive: true });
const userId = (value: string): Needle => ({ kind: 'userId', value, caseInsensitive: false });
const installId = (value: string): Needle => ({ kind: 'installId', value, caseInsensitive: true });
const phone = (value: string): Needle => ({ kind: 'phone', value, caseInsensitive: true });

describe('whole-token matching of identifiers in free text (Invariant 2)', () => {
  describe('user ids', () => {
    const needle = userId('user-42');

    for (const text of [
      "CustomProperties/user_id eq 'user-42'",
      'user-42',
      'Welcome, user-42!',
      '(user-42)',
      '"user-42"',
      'ids: user-7,user-42;user-9',
      'user_id=user-42',
      'a - user-42 - b',
      'ends with user-42.',
      'users/user-42/profile',
    ]) {
      it(`finds user-42 in ${JSON.stringify(text)}`, () => {
        expect(containsToken(text, needle)).to.equal(true);
      });
    }

    for (const text of [
      "CustomProperties/user_id eq 'user-421'",
      'user-4299',
      'vip-user-42',
      'xuser-42',
      'user-42-backup',
      'user-42.5',
      'user-42_old',
      '@user-42',
      'USER-42',
      'user-4',
      '',
    ]) {
      it(`does not find user-42 in ${JSON.stringify(text)}`, () => {
        expect(containsToken(text, needle)).to.equal(false);
      });
    }

    it('matches user ids exactly, with their own punctuation', () => {
      expect(containsToken('member auth0|5f1c.ab ok', userId('auth0|5f1c.ab'))).to.equal(true);
      expect(containsToken('member auth0|5f1c.abc ok', userId('auth0|5f1c.ab'))).to.equal(false);
      expect(containsToken('a.*b and more', userId('a.*b'))).to.equal(true);
      expect(containsToken('aXXb', userId('a.*b')), 'no regex is built from the id').to.equal(false);
    });
  });

  describe('e-mail addresses', () => {
    const needle = email('user42@example.com');

    for (const text of [
      'Receipt for user42@example.com',
      'A reset was requested for USER42@Example.COM.',
      '<user42@example.com>',
      'mailto:user42@example.com',
      "email eq 'user42@example.com'",
      'to: user42@example.com, user7@example.com',
    ]) {
      it(`finds user42@example.com in ${JSON.stringify(text)}`, () => {
        expect(containsToken(text, needle)).to.equal(true);
      });
    }

    for (const text of [
      'Receipt for user421@example.com',
      'Receipt for xuser42@example.com',
      'x.user42@example.com',
      'ann+user42@example.com',
      'user42@example.com.au',
      'user42@example.community',
      'user42@example-com.net',
    ]) {
      it(`does not find user42@example.com in ${JSON.stringify(text)}`, () => {
        expect(containsToken(text, needle)).to.equal(false);
      });
    }

    it('keeps plus-addressing distinct', () => {
      expect(containsToken('sent to ann+promo@x.com', email('ann@x.com'))).to.equal(false);
      expect(containsToken('sent to ann+promo@x.com', email('ann+promo@x.com'))).to.equal(true);
    });

    it('does not confuse joann@x.com with ann@x.com', () => {
      expect(containsToken('joann@x.com', email('ann@x.com'))).to.equal(false);
    });
  });

  describe('install ids and phone numbers', () => {
    it('finds an install id whatever its case, only whole', () => {
      const needle = installId('00000000-0000-4000-8000-00000000002a');
      expect(containsToken('InstallId eq 00000000-0000-4000-8000-00000000002A', needle)).to.equal(true);
      expect(containsToken('00000000-0000-4000-8000-00000000002ab', needle)).to.equal(false);
      expect(containsToken('100000000-0000-4000-8000-00000000002a', needle)).to.equal(false);
    });

    it('finds an E.164 number only whole', () => {
      const needle = phone('+15550000042');
      expect(containsToken('call +15550000042 now', needle)).to.equal(true);
      expect(containsToken('call +155500000421 now', needle)).to.equal(false);
      expect(containsToken('call 1+15550000042', needle)).to.equal(false);
    });

    it('handles text whose lower case has another length', () => {
      // 'İ' lower-cases to two code units: the slow path still compares on the original text.
      expect(containsToken('İ user42@example.com', email('user42@example.com'))).to.equal(true);
      expect(containsToken('İ xuser42@example.com', email('user42@example.com'))).to.equal(false);
    });
  });

  describe('helpers', () => {
    it('builds needles from a subject: e-mail, install id and phone without case, user id exactly, never the Amplitude id', () => {
      const needles = subjectNeedles({
        email: 'user42@example.com',
        userId: 'user-42',
        installId: '00000000-0000-4000-8000-00000000002a',
        phone: '+15550000042',
        amplitudeId: '100000042',
      });
      expect(needles.map((n) => [n.kind, n.caseInsensitive])).to.deep.equal([
        ['email', true],
        ['userId', false],
        ['installId', true],
        ['phone', true],
      ]);
      expect(subjectNeedles({ amplitudeId: '100000042' })).to.deep.equal([]);
    });

    it('namesAny looks through every text for every needle, skipping missing ones', () => {
      expect(
        namesAny([undefined, 'nobody here', "user_id eq 'user-42'"], [email('user42@example.com'), userId('user-42')]),
      ).to.equal(true);
      expect(namesAny([null, "user_id eq 'user-421'"], [userId('user-42')])).to.equal(false);
    });

    it('equalsIdentifier compares one list item exactly (trimmed; case only where the kind allows)', () => {
      expect(equalsIdentifier(' user-42 ', userId('user-42'))).to.equal(true);
      expect(equalsIdentifier('User-42', userId('user-42'))).to.equal(false);
      expect(equalsIdentifier('user-421', userId('user-42'))).to.equal(false);
      expect(equalsIdentifier('USER42@EXAMPLE.COM', email('user42@example.com'))).to.equal(true);
      expect(equalsIdentifier(42, userId('42'))).to.equal(false);
    });

    it('redacts identifiers even inside longer tokens, and anything shaped like one', () => {
      const needles = [userId('user-42'), email('user42@example.com')];
      expect(redactIdentifiers('vip-user-42', needles)).to.equal('vip-[redacted]');
      expect(redactIdentifiers('list-USER42@example.com', needles)).to.equal('list-[redacted]');
      expect(redactIdentifiers('pair of user7@example.com', needles)).to.equal('pair of [redacted]');
      expect(redactIdentifiers('device-00000000-0000-4000-8000-00000000002a', needles)).to.equal('device-[redacted]');
      expect(redactIdentifiers('sms-+15550000042', needles)).to.equal('sms-[redacted]');
      expect(redactIdentifiers('pro-plan', needles)).to.equal('pro-plan');
    });
  });
});
