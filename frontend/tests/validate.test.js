// The page's copy of the server's input rules (registry/src/domain.rs), case by case.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emailProblem, nameProblem, parseId } from '../validate.js';

const names = [
  ['Ada Lovelace', true, 'an ordinary name'],
  ['  Ada  ', true, 'spaces around a name are trimmed'],
  ['😀'.repeat(100), true, '100 emoji are 100 characters, not 200 UTF-16 units'],
  ['é'.repeat(100), true, '100 accented letters'],
  ['', false, 'an empty name'],
  ['   ', false, 'a name of spaces only'],
  ['\u3000\u00a0', false, 'a name of Unicode spaces only, which Rust trims too'],
  ['a'.repeat(101), false, '101 characters'],
  ['😀'.repeat(101), false, '101 emoji'],
  ['Ada\nLovelace', false, 'a line break inside'],
  ['Ada\tLovelace', false, 'a tab inside'],
  ['Ada\u0007', false, 'a bell character'],
];

const emails = [
  ['', true, 'no address at all: the field is optional'],
  ['   ', true, 'spaces only count as no address'],
  ['ada@example.com', true, 'an ordinary address'],
  [' ada@example.com ', true, 'spaces around are trimmed'],
  ['ADA@Example.COM', true, 'capitals'],
  ['ädä@exämple.de', true, 'non-ASCII letters'],
  ['first.last+tag@mail.example.co.uk', true, 'dots, plus and a long domain'],
  [`${'a'.repeat(64)}@example.com`, true, 'a local part of 64 bytes'],
  [`${'a'.repeat(65)}@example.com`, false, 'a local part of 65 bytes'],
  [`${'é'.repeat(33)}@example.com`, false, 'a local part of 33 two-byte letters (66 bytes)'],
  [`a@${'b'.repeat(250)}.com`, false, 'more than 254 characters'],
  ['ada', false, 'no @'],
  ['ada@', false, 'nothing after the @'],
  ['@example.com', false, 'nothing before the @'],
  ['ada@example', false, 'no dot in the domain'],
  ['ada@example.', false, 'an empty last label'],
  ['ada@.example.com', false, 'an empty first label'],
  ['ada@-example.com', false, 'a label starting with a hyphen'],
  ['ada@example-.com', false, 'a label ending with a hyphen'],
  ['a@b@example.com', false, 'two @'],
  ['ada lovelace@example.com', false, 'a space inside'],
  ['ada@exa,mple.com', false, 'a comma in the domain'],
  ['ada@[127.0.0.1]', false, 'an address literal'],
];

test('names are checked as the server checks them', () => {
  for (const [name, ok, why] of names) {
    assert.equal(nameProblem(name) === null, ok, `${why}: ${JSON.stringify(name)} -> ${nameProblem(name)}`);
  }
});

test('email addresses are checked as the server checks them', () => {
  for (const [email, ok, why] of emails) {
    assert.equal(emailProblem(email) === null, ok, `${why}: ${JSON.stringify(email)} -> ${emailProblem(email)}`);
  }
});

test('user ids typed by people are positive whole numbers', () => {
  const cases = [
    ['42', 42, 'a small id'],
    [' 17000000000023 ', 17000000000023, 'a real-looking id with spaces'],
    ['#7', 7, 'an id written as #7'],
    ['0', null, 'zero'],
    ['-3', null, 'a negative number'],
    ['1.5', null, 'a fraction'],
    ['abc', null, 'letters'],
    ['', null, 'nothing'],
    ['99999999999999999', null, 'beyond what a page can hold exactly'],
  ];
  for (const [raw, want, why] of cases) assert.equal(parseId(raw), want, why);
});
