/* SPDX-License-Identifier: Apache-2.0 */
/* Stand-ins for the BabbleSim 2.4 GHz phy's channel and modem plug-ins
 * (lib/lib_2G4Channel_NtNcable.so, lib/lib_2G4Modem_Magic.so), for a
 * zephyr-ll package whose lib/ is missing. The phy (bs_2G4_phy_v1) dlopen()s
 * them from ../lib relative to bin/ and looks these symbols up by name.
 *
 * The behaviour is the ideal radio the package documents: every path has the
 * same fixed attenuation (60 dB, so a 0 dBm transmitter is heard at -60 dBm),
 * no multipath, and a modem that syncs on and decodes every packet (no bit
 * errors); the phy itself still resolves collisions. Of the phy's
 * structures only the head of its transmission list is read (tx_l_c_t in
 * ext_2G4_phy_v1's p2G4_pending_tx_rx_list.h). Built by
 * tests/ll/CMakeLists.txt; tests/support/with-zephyr-ll puts them in an
 * overlay of the package. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

struct tx_list_head {
  uint64_t ctr;
  void *tx_list;
  unsigned *used; /* per device: nonzero while it transmits */
};

#define ATTENUATION_DB 60.0

/* The phy's interface (ext_2G4_phy_v1: channel_if.h, modem_if.h), with its
 * structures left opaque. */
int channel_init(int argc, char *argv[], unsigned n_devs);
int channel_calc(const unsigned *tx_used, void *tx_list, unsigned txnbr,
                 unsigned rxnbr, uint64_t now, double *att, double *isi_snr);
void channel_delete(void);
void *modem_init(int argc, char *argv[], unsigned dev_nbr,
                 unsigned nbr_devices);
void modem_analog_rx(void *self, void *rx_radio_params, double *snr,
                     double *rssi_dbm, double *rx_powers, void *txl_c,
                     unsigned tx_nbr);
uint32_t modem_digital_perf_ber(void *self, void *rx_radio_params, double snr);
uint32_t modem_digital_perf_sync(void *self, void *rx_radio_params, double snr,
                                 void *tx);
void modem_digital_RSSI(void *self, void *rx_radio_params, double dbm,
                        int32_t *rssi);
void modem_delete(void *self);

static unsigned n_devices;

int channel_init(int argc, char *argv[], unsigned n_devs) {
  (void)argc;
  (void)argv;
  n_devices = n_devs;
  return 0;
}

int channel_calc(const unsigned *tx_used, void *tx_list, unsigned txnbr,
                 unsigned rxnbr, uint64_t now, double *att, double *isi_snr) {
  (void)tx_used, (void)tx_list, (void)txnbr, (void)rxnbr, (void)now;
  for (unsigned i = 0; i < n_devices; i++) att[i] = ATTENUATION_DB;
  *isi_snr = 100;
  return 0;
}

void channel_delete(void) {}

void *modem_init(int argc, char *argv[], unsigned dev_nbr,
                 unsigned nbr_devices) {
  (void)argc, (void)argv, (void)dev_nbr;
  unsigned *n = malloc(sizeof *n);
  if (n) *n = nbr_devices;
  return n;
}

/* RSSI: the power of every transmitter on the air at this antenna over the
 * thermal noise floor (-114 dBm in 1 MHz); tx_nbr is UINT_MAX for a bare
 * RSSI measurement. */
void modem_analog_rx(void *self, void *rx_radio_params, double *snr,
                     double *rssi_dbm, double *rx_powers, void *txl_c,
                     unsigned tx_nbr) {
  (void)rx_radio_params, (void)tx_nbr;
  const struct tx_list_head *txl = txl_c;
  unsigned n = self ? *(unsigned *)self : 0;
  double mw = 4e-12;
  for (unsigned i = 0; i < n; i++)
    if (txl && txl->used && txl->used[i]) mw += pow(10.0, rx_powers[i] / 10.0);
  *rssi_dbm = 10 * log10(mw);
  *snr = 100;
}

uint32_t modem_digital_perf_ber(void *self, void *rx_radio_params, double snr) {
  (void)self, (void)rx_radio_params, (void)snr;
  return 0;
}

uint32_t modem_digital_perf_sync(void *self, void *rx_radio_params, double snr,
                                 void *tx) {
  (void)self, (void)rx_radio_params, (void)snr, (void)tx;
  return RAND_MAX; /* BabbleSim's probability 1 */
}

/* 16.16 fixed point dBm, as the phy's p2G4_rssi_power_t. */
void modem_digital_RSSI(void *self, void *rx_radio_params, double dbm,
                        int32_t *rssi) {
  (void)self, (void)rx_radio_params;
  if (dbm < -32768) dbm = -32768;
  if (dbm > 32767) dbm = 32767;
  *rssi = (int32_t)(dbm * 65536);
}

void modem_delete(void *self) { free(self); }
