export * from './types';
export * from './numbering';
export { parseIpAddress, parseCidr, cidrContains, AddressTable, type IpAddress, type Cidr } from './address';
export { RouteTable, trunkTarget } from './routing';
export { Directory, DirectoryError, type GroupEntry, type MemberEntry, type NumberEntry, type DirectoryCounts } from './directory';
export { checkOutgoing, checkIncoming } from './barring';
export { resolveCall, resolveDialledDigits } from './resolver';
export { VpnService } from './service';
export { DirectoryReloader, type DirectorySource, type ReloadOutcome, type ReloaderOptions } from './reloader';
