import t from 'tap';
import { formatNumber, formatPerfDatum, formatPerfdata } from '../../plugins/runtime/perfdata.ts';

t.test('format of one datum', async (t) => {
  t.equal(formatPerfDatum({ label: 'time', value: 0.015909, uom: 's', min: 0, max: 10, decimals: 6 }), 'time=0.015909s;;;0.000000;10.000000',
    'monitoring-plugins fperfdata form, empty warn/crit kept');
  t.equal(formatPerfDatum({ label: 'size', value: 4, uom: 'B' }), 'size=4B', 'trailing empty fields dropped');
  t.equal(formatPerfDatum({ label: 'load', value: 1.5, warn: '5', crit: '10' }), 'load=1.5;5;10');
  t.equal(formatPerfDatum({ label: 'x', value: undefined }), 'x=U', 'unknown value');
  t.equal(formatPerfDatum({ label: 'time', value: 0.2, warn: '@1:2', crit: '~:3', min: 0 }), 'time=0.2;@1:2;~:3;0');
});

t.test('labels that need quoting', async (t) => {
  t.equal(formatPerfDatum({ label: 'free space', value: 1 }), "'free space'=1");
  t.equal(formatPerfDatum({ label: "it's", value: 1 }), "'it''s'=1");
  t.equal(formatPerfDatum({ label: 'a=b', value: 1 }), "'a=b'=1");
  t.equal(formatPerfDatum({ label: 'plain_label', value: 1 }), 'plain_label=1');
});

t.test('numbers never use exponent notation', async (t) => {
  t.equal(formatNumber(1e-7), '0.0000001');
  t.equal(formatNumber(1e21), '1000000000000000000000');
  t.equal(formatNumber(0.5, 3), '0.500');
  t.equal(formatNumber(Infinity), 'inf');
});

t.test('several data are space separated', async (t) => {
  t.equal(formatPerfdata([{ label: 'a', value: 1 }, { label: 'b', value: 2, uom: '%' }]), 'a=1 b=2%');
  t.equal(formatPerfdata([]), '');
});
