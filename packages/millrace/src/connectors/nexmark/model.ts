/**
 * Nexmark row types and schemas (person, auction, bid), as the Nexmark benchmark defines them.
 * Timestamps are epoch milliseconds; ids, prices and categories are longs.
 */
import { type Schema, schema, t } from '../../schema/index.ts';

export type Person = {
  id: number;
  name: string;
  emailAddress: string;
  creditCard: string;
  city: string;
  state: string;
  dateTime: number;
  extra: string;
};

export type Auction = {
  id: number;
  itemName: string;
  description: string;
  initialBid: number;
  reserve: number;
  dateTime: number;
  expires: number;
  seller: number;
  category: number;
  extra: string;
};

export type Bid = {
  auction: number;
  bidder: number;
  price: number;
  channel: string;
  url: string;
  dateTime: number;
  extra: string;
};

export type NexmarkKind = 'person' | 'auction' | 'bid';

export type NexmarkEvent =
  | { readonly kind: 'person'; readonly person: Person }
  | { readonly kind: 'auction'; readonly auction: Auction }
  | { readonly kind: 'bid'; readonly bid: Bid };

/** The row type of a kind: `NexmarkRow<'bid'>` is `Bid`. */
export type NexmarkRow<K extends NexmarkKind> = K extends 'bid'
  ? Bid
  : K extends 'auction'
    ? Auction
    : Person;

export const personSchema: Schema<Person> = schema({
  id: t.long,
  name: t.string,
  emailAddress: t.string,
  creditCard: t.string,
  city: t.string,
  state: t.string,
  dateTime: t.timestamp,
  extra: t.string,
});

export const auctionSchema: Schema<Auction> = schema({
  id: t.long,
  itemName: t.string,
  description: t.string,
  initialBid: t.long,
  reserve: t.long,
  dateTime: t.timestamp,
  expires: t.timestamp,
  seller: t.long,
  category: t.long,
  extra: t.string,
});

export const bidSchema: Schema<Bid> = schema({
  auction: t.long,
  bidder: t.long,
  price: t.long,
  channel: t.string,
  url: t.string,
  dateTime: t.timestamp,
  extra: t.string,
});

export function nexmarkSchemaOf<K extends NexmarkKind>(kind: K): Schema<NexmarkRow<K>> {
  const s = kind === 'bid' ? bidSchema : kind === 'auction' ? auctionSchema : personSchema;
  return s as unknown as Schema<NexmarkRow<K>>;
}
