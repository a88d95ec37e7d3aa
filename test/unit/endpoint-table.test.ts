import { expect } from 'chai';
import { EndpointTable } from '../../src/sandbox/pinpoint/endpoint-table.js';
import type { PinpointEndpoint } from '../../src/sandbox/pinpoint/pinpoint-store.js';

const endpoint = (id: string, userId?: string): PinpointEndpoint =>
  ({
    Id: id,
    ChannelType: 'EMAIL',
    Address: `${id}@example.test`,
    User: userId === undefined ? {} : { UserId: userId },
  }) as unknown as PinpointEndpoint;

/** What a scan of the whole table answers: the index must agree with it after any change. */
const scanned = (table: EndpointTable, userId: string) =>
  [...table.values()].filter((e) => e.User.UserId === userId).map((e) => e.Id);
const indexed = (table: EndpointTable, userId: string) => table.ofUser(userId).map((e) => e.Id);

describe('Sandbox Pinpoint endpoint table', () => {
  it('answers a user’s endpoints as a scan of the app would, in the same order, through replaces, moves and deletes', () => {
    const table = new EndpointTable();
    table.set('a', endpoint('a', 'u1'));
    table.set('b', endpoint('b', 'u2'));
    table.set('c', endpoint('c', 'u1'));
    table.set('d', endpoint('d'));
    expect(indexed(table, 'u1')).to.deep.equal(['a', 'c']);

    table.set('a', endpoint('a', 'u1')); // replaced in place: keeps its place
    expect(indexed(table, 'u1')).to.deep.equal(scanned(table, 'u1'));
    table.set('c', endpoint('c', 'u2')); // moved to another user
    table.set('d', endpoint('d', 'u2')); // an anonymous endpoint given a user
    table.set('a', endpoint('a')); // a user id taken away (Pinpoint's eviction does this)
    for (const user of ['u1', 'u2']) expect(indexed(table, user), user).to.deep.equal(scanned(table, user));
    expect(indexed(table, 'u2')).to.deep.equal(['b', 'c', 'd']);

    expect(table.delete('c')).to.equal(true);
    expect(table.delete('c')).to.equal(false);
    table.set('c', endpoint('c', 'u2')); // back, now last in the map
    expect(indexed(table, 'u2')).to.deep.equal(scanned(table, 'u2'));
    expect(indexed(table, 'u2')).to.deep.equal(['b', 'd', 'c']);

    table.clear();
    expect(indexed(table, 'u2')).to.deep.equal([]);
    expect(indexed(table, 'nobody')).to.deep.equal([]);
  });
});
