import t from 'tap';
import {
  decodePacket, describeError, encodeAck, encodeData, encodeError, encodeNetascii, encodeOack, encodeRequest, MalformedPacket,
  NetasciiDecoder,
} from '../../plugins/tftp/codec.ts';

const bytes = (...list: number[]) => Buffer.from(list);

t.test('RRQ with options: wire bytes and round trip', async (t) => {
  const options = new Map([['blksize', '1468'], ['tsize', '0']]);
  const packet = encodeRequest('RRQ', 'tftp_check.txt', 'octet', options);
  t.same(packet, Buffer.from('\x00\x01tftp_check.txt\x00octet\x00blksize\x001468\x00tsize\x000\x00', 'latin1'), 'RFC 1350/2347 layout');
  const decoded = decodePacket(packet);
  t.equal(decoded.op, 'RRQ');
  if (decoded.op !== 'RRQ') return;
  t.equal(decoded.filename, 'tftp_check.txt');
  t.equal(decoded.mode, 'octet');
  t.same([...decoded.options], [['blksize', '1468'], ['tsize', '0']]);
  const plain = decodePacket(encodeRequest('RRQ', 'f', 'netascii'));
  t.same(plain.op === 'RRQ' && [plain.mode, plain.options.size], ['netascii', 0], 'no options');
});

t.test('requests that cannot be sent are refused before the network', async (t) => {
  t.throws(() => encodeRequest('RRQ', '', 'octet'), /empty/);
  t.throws(() => encodeRequest('RRQ', 'a\0b', 'octet'), /NUL/);
  t.throws(() => encodeRequest('RRQ', 'x'.repeat(600), 'octet'), /512 bytes/);
});

t.test('DATA, ACK, ERROR, OACK round trips', async (t) => {
  t.same(decodePacket(encodeData(7, Buffer.from('abc'))), { op: 'DATA', block: 7, data: Buffer.from('abc') });
  t.same(decodePacket(encodeData(65536, Buffer.alloc(0))), { op: 'DATA', block: 0, data: Buffer.alloc(0) }, 'block numbers wrap at 16 bits');
  t.same(decodePacket(encodeAck(65535)), { op: 'ACK', block: 65535 });
  t.same(encodeAck(1), bytes(0, 4, 0, 1));
  t.same(decodePacket(encodeError(1, 'File not found')), { op: 'ERROR', code: 1, message: 'File not found' });
  const oack = decodePacket(encodeOack(new Map([['blksize', '1024'], ['windowsize', '4']])));
  t.equal(oack.op, 'OACK');
  if (oack.op === 'OACK') t.same([...oack.options], [['blksize', '1024'], ['windowsize', '4']]);
});

t.test('option names are case-insensitive', async (t) => {
  const oack = decodePacket(Buffer.from('\x00\x06BLKSIZE\x00512\x00', 'latin1'));
  t.equal(oack.op === 'OACK' && oack.options.get('blksize'), '512');
});

t.test('an ERROR without its final NUL still yields code and message', async (t) => {
  t.same(decodePacket(Buffer.from('\x00\x05\x00\x02Access violation', 'latin1')), { op: 'ERROR', code: 2, message: 'Access violation' });
  t.same(decodePacket(bytes(0, 5, 0, 0)), { op: 'ERROR', code: 0, message: '' });
});

t.test('malformed packets are rejected, never half understood', async (t) => {
  const bad: [string, Buffer][] = [
    ['empty datagram', bytes()],
    ['one byte', bytes(0)],
    ['unknown opcode 9', bytes(0, 9, 0, 1)],
    ['opcode 0', bytes(0, 0, 0, 1)],
    ['DATA shorter than its header', bytes(0, 3, 0)],
    ['ACK of 3 bytes', bytes(0, 4, 0)],
    ['ACK of 5 bytes', bytes(0, 4, 0, 1, 9)],
    ['ERROR of 3 bytes', bytes(0, 5, 0)],
    ['OACK without options', bytes(0, 6)],
    ['OACK option without value', Buffer.from('\x00\x06blksize\x00', 'latin1')],
    ['OACK string not terminated', Buffer.from('\x00\x06blksize\x00512', 'latin1')],
    ['OACK option twice', Buffer.from('\x00\x06tsize\x001\x00TSIZE\x002\x00', 'latin1')],
    ['OACK empty option name', Buffer.from('\x00\x06\x001\x00', 'latin1')],
    ['RRQ without mode', Buffer.from('\x00\x01file\x00', 'latin1')],
    ['RRQ with empty name', Buffer.from('\x00\x01\x00octet\x00', 'latin1')],
  ];
  for (const [what, packet] of bad) t.throws(() => decodePacket(packet), MalformedPacket, what);
});

t.test('error descriptions show code and message', async (t) => {
  t.equal(describeError(1, 'File not found'), 'ERROR 1 (File not found)');
  t.equal(describeError(1, ''), 'ERROR 1 (File not found)');
  t.equal(describeError(0, 'Permission denied'), 'ERROR 0: Permission denied');
  t.equal(describeError(42, ''), 'ERROR 42 (unassigned code)');
});

t.test('netascii: LF <-> CR LF, CR <-> CR NUL, also across block boundaries', async (t) => {
  const text = Buffer.from('line 1\nbare\rcr\n\n', 'latin1');
  const wire = encodeNetascii(text);
  t.same(wire, Buffer.from('line 1\r\nbare\r\0cr\r\n\r\n', 'latin1'));
  for (let cut = 0; cut <= wire.length; cut++) {
    const decoder = new NetasciiDecoder();
    const out = Buffer.concat([decoder.push(wire.subarray(0, cut)), decoder.push(wire.subarray(cut)), decoder.end()]);
    t.same(out, text, `split at ${cut}`);
  }
  const tail = new NetasciiDecoder();
  t.same(Buffer.concat([tail.push(Buffer.from('a\r', 'latin1')), tail.end()]), Buffer.from('a\r', 'latin1'), 'a lone CR at the end is kept');
  t.same(new NetasciiDecoder().push(Buffer.from('a\rb', 'latin1')), Buffer.from('a\rb', 'latin1'), 'a CR before another byte is kept');
});
