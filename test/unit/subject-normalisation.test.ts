import { expect } from 'chai';
import {
  InvalidIdentifierError,
  normaliseAmplitudeId,
  normaliseEmail,
  normaliseInstallId,
  normalisePhone,
  normaliseSubject,
  normaliseUserId,
  UnknownIdentifierError,
  type IdentifierKind,
} from '../../src/privacy/subject.js';

/** Runs `fn` and returns the InvalidIdentifierError it throws; fails the test if it throws nothing else. */
function refusal(fn: () => unknown): InvalidIdentifierError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(InvalidIdentifierError);
    return err as InvalidIdentifierError;
  }
  expect.fail('expected the identifier to be refused');
}

/** Asserts the value is refused as `kind` and that the error never repeats it (Invariant 1). */
function expectRefused(kind: IdentifierKind, fn: (raw: string) => unknown, raw: string): void {
  const err = refusal(() => fn(raw));
  expect(err.kind).to.equal(kind);
  expect(err.name).to.equal('InvalidIdentifierError');
  const core = raw.trim();
  if (core.length >= 3) {
    expect(err.message, 'message').to.not.include(core);
    expect(err.problem, 'problem').to.not.include(core);
    expect(String(err.stack), 'stack').to.not.include(core);
  }
}

describe('subject normalisation', () => {
  describe('e-mail', () => {
    const accepted: Array<[string, string, string]> = [
      ['keeps a plain address as it is', 'ann@x.com', 'ann@x.com'],
      ['trims surrounding white space', '  ann@x.com\t\n', 'ann@x.com'],
      ['lower-cases the local part and the domain', 'Ann.Lee@Example.COM', 'ann.lee@example.com'],
      ['turns an IDN domain into punycode', 'ann@bücher.de', 'ann@xn--bcher-kva.de'],
      ['lower-cases an IDN domain before converting it', 'ANN@BÜCHER.DE', 'ann@xn--bcher-kva.de'],
      ['leaves an already punycoded domain alone', 'ann@xn--bcher-kva.de', 'ann@xn--bcher-kva.de'],
      ['keeps plus-addressing', 'Ann+News@x.com', 'ann+news@x.com'],
      ['accepts a sub-domain', 'ann@mail.x.co.uk', 'ann@mail.x.co.uk'],
    ];
    for (const [behaviour, raw, expected] of accepted) {
      it(`${behaviour} (${JSON.stringify(raw)} → ${expected})`, () => {
        expect(normaliseEmail(raw)).to.equal(expected);
      });
    }

    it('keeps a plus-addressed mailbox distinct from the plain one', () => {
      expect(normaliseEmail('ann+x@x.com')).to.not.equal(normaliseEmail('ann@x.com'));
    });

    const refused: Array<[string, string]> = [
      ['has no @', 'ann.x.com'],
      ['has an empty local part', '@x.com'],
      ['has an empty domain', 'ann@'],
      ['has no dot in the domain', 'ann@localhost'],
      ['has a space in the local part', 'ann lee@x.com'],
      ['has a space in the domain', 'ann@x .com'],
      ['has a space after the @', 'ann@ x.com'],
      ['is empty', ''],
      ['is only white space', '   '],
      ['has an empty domain label', 'ann@x..com'],
      ['has a domain starting with a dot', 'ann@.com'],
      ['has a domain ending with a dot', 'ann@x.com.'],
      ['has a port after the domain', 'ann@x.com:25'],
      ['has an IP literal in brackets', 'ann@[10.0.0.1]'],
      ['has a local part over 64 characters', `${'a'.repeat(65)}@x.com`],
      ['has an invalid punycode label', 'ann@xn--zz.com'],
      // Issue 25, item 8: RFC 5321 shape.
      ['has two dots in a row in the local part', 'a..b@example.com'],
      ['has a local part starting with a dot', '.ann@example.com'],
      ['has a local part ending with a dot', 'ann.@example.com'],
      ['has a domain label starting with a hyphen', 'a@-example.com'],
      ['has a domain label ending with a hyphen', 'a@example-.com'],
      ['has an underscore in the domain', 'ann@ex_ample.com'],
      ['has a numeric top-level label', 'ann@example.123'],
      ['is a comma-separated list', 'ann@x.com,bob@x.com'],
      ['is a semicolon-separated list', 'ann@x.com;bob@x.com'],
      ['has a quoted local part', '"ann lee"@x.com'],
      ['has a NUL character', 'ann\u0000@x.com'],
      ['has a zero-width space', 'an\u200bn@x.com'],
      ['has a zero-width joiner in the domain', 'ann@ex\u200dample.com'],
      ['has a right-to-left override', 'ann\u202e@x.com'],
      ['has a bidi isolate', '\u2066ann@x.com'],
      ['has a byte-order mark inside', 'an\ufeffn@x.com'],
      ['has a C1 control', 'ann\u0085@x.com'],
      ['is longer than 254 characters', `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.com`],
    ];
    for (const [shape, raw] of refused) {
      it(`refuses an address that ${shape}`, () => {
        expectRefused('email', normaliseEmail, raw);
      });
    }

    // The URL host parser behind domainToASCII would otherwise turn these into a real neighbour.
    const wouldBecomeSomebodyElse: Array<[string, string, string]> = [
      ['a path after the domain', 'ann@x.com/y', 'ann@x.com'],
      ['a query after the domain', 'ann@x.com?y', 'ann@x.com'],
      ['a fragment after the domain', 'ann@x.com#joann', 'ann@x.com'],
      ['a backslash in the domain', 'ann@x.com\\y', 'ann@x.com'],
      ['a tab inside the domain', 'ann@x\tx.com', 'ann@xx.com'],
      ['a new line inside the domain', 'ann@x\nx.com', 'ann@xx.com'],
      ['a percent-encoded dot in the domain', 'ann@x%2ecom', 'ann@x.com'],
    ];
    for (const [what, raw, neighbour] of wouldBecomeSomebodyElse) {
      it(`refuses an address with ${what} rather than reading it as ${neighbour}`, () => {
        expectRefused('email', normaliseEmail, raw);
      });
    }

    it('keeps exact-match neighbours distinct: ann@x.com, joann@x.com and ann@x.com.au', () => {
      const values = ['ann@x.com', 'joann@x.com', 'ann@x.com.au', 'ann@x.co'].map(normaliseEmail);
      expect(new Set(values).size).to.equal(values.length);
      expect(normaliseEmail(' ANN@X.COM ')).to.equal('ann@x.com');
      expect(normaliseEmail('JoAnn@X.com')).to.equal('joann@x.com');
      expect(normaliseEmail('Ann@X.com.AU')).to.equal('ann@x.com.au');
    });
  });

  describe('phone', () => {
    const accepted: Array<[string, string, string]> = [
      ['keeps an E.164 number as it is', '+15550000001', '+15550000001'],
      ['trims surrounding white space', ' +15550000001 ', '+15550000001'],
      ['drops spaces', '+44 20 7946 0958', '+442079460958'],
      ['drops dashes', '+1-555-000-0001', '+15550000001'],
      ['drops dots', '+1.555.000.0001', '+15550000001'],
      ['drops parentheses', '+1 (555) 000-0001', '+15550000001'],
      ['turns a leading 00 into +', '0044 20 7946 0958', '+442079460958'],
      ['drops the national prefix the way the country writes it (issue 25)', '+44 (0) 20 7946 0958', '+442079460958'],
      ['reads a national prefix written without spaces', '+44(0)2079460958', '+442079460958'],
      ['accepts a short number where the country has them (8 digits)', '+4930123456', '+4930123456'],
      ['accepts a long number where the country has them', '+4915112345678', '+4915112345678'],
    ];
    for (const [behaviour, raw, expected] of accepted) {
      it(`${behaviour} (${JSON.stringify(raw)} → ${expected})`, () => {
        expect(normalisePhone(raw)).to.equal(expected);
      });
    }

    const refused: Array<[string, string]> = [
      ['a national number without a country code', '5550000001'],
      ['a national number with a trunk zero', '020 7946 0958'],
      ['a number that is too short', '+1234567'],
      ['a number that is too long', '+1234567890123456'],
      ['a country code with a leading zero', '+0123456789'],
      ['a 00 prefix followed by a zero', '000123456789'],
      ['letters', '+1555CALLNOW'],
      ['a slash', '+1555/0000001'],
      ['an empty string', ''],
      ['a second plus sign', '+1+5550000001'],
      // Issue 25, item 8: E.164 by libphonenumber-js rather than by digit count.
      ['a country code that does not exist', '+999999999999999'],
      ['a number too long for its country', '+123456789012345'],
      ['a number too short for its country', '+12345678'],
      ['a comma-separated list', '+442079460958,+442079460959'],
      ['an extension', '+12025550143 ext 12'],
      ['a zero-width space', '+4420\u200b79460958'],
      ['a right-to-left override', '+44\u202e2079460958'],
      ['a NUL character', '+4420\u000079460958'],
    ];
    for (const [what, raw] of refused) {
      it(`refuses ${what}`, () => {
        expectRefused('phone', normalisePhone, raw);
      });
    }

    it('keeps exact-match neighbours distinct: +15550000001 and +155500000011', () => {
      // +155500000011 has 11 national digits, one too many for NANP: it is refused now (issue 25),
      // so the neighbour is the number that differs in its last digits.
      const a = normalisePhone('+1 555 000 0001');
      const b = normalisePhone('+1 555 000 0011');
      expect(a).to.equal('+15550000001');
      expect(b).to.equal('+15550000011');
      expectRefused('phone', normalisePhone, '+1 555 000 00011');
      expect(a).to.not.equal(b);
    });
  });

  describe('userId', () => {
    it('keeps the value exactly, case included', () => {
      expect(normaliseUserId('User-42')).to.equal('User-42');
      expect(normaliseUserId('user-42')).to.not.equal(normaliseUserId('USER-42'));
    });

    it('trims only surrounding white space', () => {
      expect(normaliseUserId('  a b  ')).to.equal('a b');
    });

    it('keeps unicode as given', () => {
      expect(normaliseUserId('Zoë-用户')).to.equal('Zoë-用户');
    });

    const refused: Array<[string, string]> = [
      ['an empty value', ''],
      ['a value of white space only', ' \t '],
      ['a NUL character', 'user\u000042'],
      ['an inner new line', 'user\n42'],
      ['an escape character', 'user\u001b[31m42'],
      ['a DEL character', 'user\u007f42'],
      ['a comma-separated list', 'user-1,user-2'],
      ['a C1 control', 'user\u009b42'],
      ['a right-to-left override', 'user\u202e42'],
      ['a zero-width space', 'user\u200b42'],
      ['a bidi isolate', 'user\u206842'],
    ];
    for (const [what, raw] of refused) {
      it(`refuses ${what}`, () => {
        expectRefused('userId', normaliseUserId, raw);
      });
    }
  });

  describe('installId', () => {
    it('lower-cases a UUID', () => {
      expect(normaliseInstallId(' 3F2504E0-4F89-11D3-9A0C-0305E82C3301 ')).to.equal(
        '3f2504e0-4f89-11d3-9a0c-0305e82c3301',
      );
    });

    const refused: Array<[string, string]> = [
      ['a value that is not a UUID', 'device-1234'],
      ['a UUID without dashes', '3f2504e04f8911d39a0c0305e82c3301'],
      ['a UUID in braces', '{3f2504e0-4f89-11d3-9a0c-0305e82c3301}'],
      ['a UUID with a non-hex digit', '3f2504e0-4f89-11d3-9a0c-0305e82c330g'],
      ['a UUID one digit short', '3f2504e0-4f89-11d3-9a0c-0305e82c330'],
    ];
    for (const [what, raw] of refused) {
      it(`refuses ${what}`, () => {
        expectRefused('installId', normaliseInstallId, raw);
      });
    }
  });

  describe('amplitudeId', () => {
    it('accepts a positive number', () => {
      expect(normaliseAmplitudeId(123456789)).to.equal('123456789');
    });

    it('accepts a string of digits, trimmed', () => {
      expect(normaliseAmplitudeId(' 123456789 ')).to.equal('123456789');
    });

    it('accepts a string beyond 2^53 exactly as written', () => {
      expect(normaliseAmplitudeId('9007199254740993')).to.equal('9007199254740993');
    });

    it('refuses a number beyond 2^53, which may already be a rounded neighbour', () => {
      // 9007199254740993 cannot be held by a JS number; it arrives here as ...992, somebody else.
      const err = refusal(() => normaliseAmplitudeId(2 ** 53 + 2));
      expect(err.kind).to.equal('amplitudeId');
      expect(err.message).to.not.include(String(2 ** 53 + 2));
    });

    const refused: Array<[string, string | number]> = [
      ['zero', 0],
      ['zero as a string', '0'],
      ['a negative number', -5],
      ['a negative string', '-5'],
      ['a fraction', 1.5],
      ['non-digits', '12ab'],
      ['a leading zero', '0123'],
      ['an empty string', ''],
      ['exponent notation', '1e5'],
    ];
    for (const [what, raw] of refused) {
      it(`refuses ${what}`, () => {
        const err = refusal(() => normaliseAmplitudeId(raw));
        expect(err.kind).to.equal('amplitudeId');
      });
    }
  });

  describe('a whole subject', () => {
    it('normalises every identifier given and leaves out the rest', () => {
      expect(normaliseSubject({ email: ' Ann@Bücher.de ', phone: '0044 20 7946 0958', amplitudeId: 42 })).to.deep.equal(
        {
          email: 'ann@xn--bcher-kva.de',
          phone: '+442079460958',
          amplitudeId: '42',
        },
      );
    });

    it('refuses an amplitudeId number beyond 2^53 when given through the subject too', () => {
      const err = refusal(() => normaliseSubject({ amplitudeId: 2 ** 53 + 2 }));
      expect(err.kind).to.equal('amplitudeId');
    });

    it('refuses a "__proto__" key (an own key after JSON.parse) instead of dropping it, naming it without its value', () => {
      const parsed = JSON.parse('{"userId":"user-1","__proto__":"user-2"}') as Record<string, string>;
      let thrown: unknown;
      try {
        normaliseSubject(parsed);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).to.be.instanceOf(UnknownIdentifierError);
      expect((thrown as UnknownIdentifierError).field).to.equal('__proto__');
      expect((thrown as Error).message).to.not.include('user-2');
    });

    it('reports the kind of the bad identifier without repeating any value', () => {
      const subject = { email: 'ann@x.com', phone: '5550000001', userId: 'secret-user-7' };
      const err = refusal(() => normaliseSubject(subject));
      expect(err.kind).to.equal('phone');
      for (const value of Object.values(subject)) expect(err.message).to.not.include(value);
    });
  });

  describe('error messages (Invariant 1)', () => {
    const cases: Array<[IdentifierKind, (raw: string) => unknown, string]> = [
      ['email', normaliseEmail, 'ann.lee.example.com'],
      ['email', normaliseEmail, 'ann lee@example.com'],
      ['phone', normalisePhone, '5550000001'],
      ['phone', normalisePhone, '+0123456789'],
      ['userId', normaliseUserId, 'secret\nperson'],
      ['installId', normaliseInstallId, 'not-a-uuid-device'],
      ['amplitudeId', normaliseAmplitudeId, 'abc123'],
    ];
    for (const [kind, fn, raw] of cases) {
      it(`never repeat the submitted ${kind} (${JSON.stringify(raw)})`, () => {
        const err = refusal(() => fn(raw));
        expect(err.message).to.not.include(raw);
        for (const piece of raw.split(/[\s@.]+/).filter((p) => p.length >= 4))
          expect(err.message).to.not.include(piece);
      });
    }
  });
});
