/* The few lines of ISA-L's inflate that need its struct layout (igzip_lib.h), compiled against
 * the header at build time. The library itself is opened at run time (libisal.so.2, whose
 * soname fixes the ABI), so a hangar binary never fails to start where it is missing. */
#include <stddef.h>
#include <stdint.h>
#include <isa-l/igzip_lib.h>

typedef void (*hangar_isal_init_fn)(struct inflate_state *);
typedef int (*hangar_isal_inflate_fn)(struct inflate_state *);

size_t hangar_isal_state_size(void) { return sizeof(struct inflate_state); }

size_t hangar_isal_state_align(void) { return _Alignof(struct inflate_state); }

/* A fresh gzip member: header and trailer (CRC-32, size) checked by ISA-L. */
void hangar_isal_reset(struct inflate_state *state, hangar_isal_init_fn init) {
    init(state);
    state->crc_flag = ISAL_GZIP;
}

/* One call of isal_inflate over the given buffers; reports what it took and gave, and
 * whether the member is complete. Returns ISA-L's status. */
int hangar_isal_step(struct inflate_state *state, hangar_isal_inflate_fn inflate,
                     const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_len,
                     uint32_t *consumed, uint32_t *produced, int *finished) {
    state->next_in = (uint8_t *)in;
    state->avail_in = in_len;
    state->next_out = out;
    state->avail_out = out_len;
    int status = inflate(state);
    *consumed = in_len - state->avail_in;
    *produced = out_len - state->avail_out;
    *finished = state->block_state == ISAL_BLOCK_FINISH;
    return status;
}
