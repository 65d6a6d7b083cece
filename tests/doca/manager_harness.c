/*
 * Test-only harness for the connection manager of an emitted NAME_doca.c
 * (tests/tests/doca_manager.rs). It includes the emitted file (DPUC_FILE),
 * links it against a stub of the DOCA Flow functions that records the
 * connection entries the manager writes (CT entries and ICMP echo entries,
 * per direction: match, bits, mark, timeout), and runs commands from stdin:
 *
 *   reset                 dpuc_ct_destroy(), dpuc_ct_init(), dpuc_install()
 *   age KEY               the device aged the connection whose original
 *                         direction's entry is KEY: its entries are reported
 *                         (DOCA_FLOW_ENTRY_OP_AGED) from doca_flow_aging_handle(),
 *                         which runs now (dpuc_ct_aging(), as an application
 *                         calls it periodically)
 *   late-age KEY          the same, but nobody calls dpuc_ct_aging(): the
 *                         manager must ask the device itself when it meets the
 *                         connection again or runs out of room; until then
 *                         the aged entries are not listed
 *   pkt CLASS PORT NS HEX dpuc_ct_handle() on the frame at time NS
 *
 * and answers each with one block ending in "end": "ok" for reset and age,
 * and for pkt the delivery ("port N", "kernel", "drop", "full" or
 * "error RC") followed by every recorded entry, sorted, one line per
 * direction: PROTO ZONE SRC:SPORT>DST:DPORT bits=HEX mark=N t=SECONDS.
 *
 * Build: gcc -std=gnu11 -Wall -Wextra -Werror -DDOCA_ALLOW_EXPERIMENTAL_API
 *        -include tests/doca/doca_flow_decls.h -I STUBDIR
 *        -DDPUC_FILE='"NAME_doca.c"' tests/doca/manager_harness.c
 */
#include DPUC_FILE

#include <stdio.h>

#define STUB_ENTRIES 4096
#define STUB_PIPES (DPUC_NB_PIPES + 1)
#define STUB_PORTS 65536

enum { STUB_FREE, STUB_CT, STUB_ECHO };

struct doca_flow_port {
	int unused;
};

struct doca_flow_pipe {
	int unused;
};

struct doca_flow_pipe_cfg {
	int unused;
};

struct doca_flow_target {
	int unused;
};

struct doca_flow_ct_cfg {
	int unused;
};

/* One recorded entry: a CT connection (both directions) or one echo direction. */
struct doca_flow_pipe_entry {
	int kind;
	bool aged;
	bool ipv6;
	uint8_t proto;
	uint32_t zone[2];
	uint8_t src[2][16], dst[2][16];
	uint16_t sport[2], dport[2];
	uint32_t bits[2], mark[2];
	uint32_t timeout;
	void *ctx;
};

static struct doca_flow_port stub_port;
static struct doca_flow_port *stub_ports[STUB_PORTS];
static struct doca_flow_pipe stub_pipes[STUB_PIPES];
static uint32_t stub_next_pipe;
static struct doca_flow_pipe_cfg stub_cfg;
static struct doca_flow_target stub_target;
static struct doca_flow_ct_cfg stub_ct_cfg;
static struct doca_flow_pipe_entry stub_static_entry;
static struct doca_flow_pipe_entry stub_entries[STUB_ENTRIES];
static uint32_t stub_unclaimed;

static uint32_t be32(doca_be32_t v)
{
	return __builtin_bswap32(v);
}

static uint16_t be16(doca_be16_t v)
{
	return __builtin_bswap16(v);
}

static void put_be32(uint8_t *b, doca_be32_t v)
{
	dpuc_be32(b, be32(v));
}

static struct doca_flow_pipe_entry *stub_alloc(int kind)
{
	int i;

	for (i = 0; i < STUB_ENTRIES; i++) {
		if (stub_entries[i].kind == STUB_FREE) {
			memset(&stub_entries[i], 0, sizeof(stub_entries[i]));
			stub_entries[i].kind = kind;
			return &stub_entries[i];
		}
	}
	return NULL;
}

static bool stub_dynamic(const struct doca_flow_pipe_entry *e)
{
	return e >= stub_entries && e < stub_entries + STUB_ENTRIES;
}

/* A DOCA call the manager's tests accept and ignore: DOCA_SUCCESS. */
#define STUB1(f, A) \
	doca_error_t f(A a) \
	{ \
		(void)a; \
		return DOCA_SUCCESS; \
	}
#define STUB2(f, A, B) \
	doca_error_t f(A a, B b) \
	{ \
		(void)a; \
		(void)b; \
		return DOCA_SUCCESS; \
	}
#define STUB3(f, A, B, C) \
	doca_error_t f(A a, B b, C c) \
	{ \
		(void)a; \
		(void)b; \
		(void)c; \
		return DOCA_SUCCESS; \
	}
#define STUB4(f, A, B, C, D) \
	doca_error_t f(A a, B b, C c, D d) \
	{ \
		(void)a; \
		(void)b; \
		(void)c; \
		(void)d; \
		return DOCA_SUCCESS; \
	}
#define STUB5(f, A, B, C, D, E) \
	doca_error_t f(A a, B b, C c, D d, E e) \
	{ \
		(void)a; \
		(void)b; \
		(void)c; \
		(void)d; \
		(void)e; \
		return DOCA_SUCCESS; \
	}

/* ---- DOCA Flow: pipes and static entries (accepted, not recorded) ---- */

doca_error_t doca_flow_pipe_cfg_create(struct doca_flow_pipe_cfg **cfg, struct doca_flow_port *port)
{
	(void)port;
	*cfg = &stub_cfg;
	return DOCA_SUCCESS;
}

STUB1(doca_flow_pipe_cfg_destroy, struct doca_flow_pipe_cfg *)

STUB2(doca_flow_pipe_cfg_set_name, struct doca_flow_pipe_cfg *, const char *)

STUB2(doca_flow_pipe_cfg_set_type, struct doca_flow_pipe_cfg *, enum doca_flow_pipe_type)

STUB2(doca_flow_pipe_cfg_set_is_root, struct doca_flow_pipe_cfg *, bool)

STUB2(doca_flow_pipe_cfg_set_nr_entries, struct doca_flow_pipe_cfg *, uint32_t)

STUB3(doca_flow_pipe_cfg_set_match, struct doca_flow_pipe_cfg *, const struct doca_flow_match *, const struct doca_flow_match *)

STUB5(doca_flow_pipe_cfg_set_actions, struct doca_flow_pipe_cfg *, struct doca_flow_actions *const *, struct doca_flow_actions *const *, struct doca_flow_action_descs *const *, size_t)

STUB2(doca_flow_pipe_cfg_set_monitor, struct doca_flow_pipe_cfg *, const struct doca_flow_monitor *)

doca_error_t doca_flow_pipe_create(const struct doca_flow_pipe_cfg *cfg, const struct doca_flow_fwd *fwd,
				   const struct doca_flow_fwd *fwd_miss, struct doca_flow_pipe **pipe)
{
	(void)cfg;
	(void)fwd;
	(void)fwd_miss;
	*pipe = &stub_pipes[stub_next_pipe++ % STUB_PIPES];
	return DOCA_SUCCESS;
}

void doca_flow_pipe_destroy(struct doca_flow_pipe *pipe)
{
	(void)pipe;
}

/* The pipe's index in the emitted tables, or -1. */
static int stub_pipe_index(const struct doca_flow_pipe *pipe)
{
	uint32_t i;

	for (i = 0; i < dpuc_nb_pipes; i++)
		if (dpuc_pipe[i] == pipe)
			return (int)i;
	return -1;
}

doca_error_t doca_flow_pipe_basic_add_entry(uint16_t pipe_queue, struct doca_flow_pipe *pipe,
					    const struct doca_flow_match *match, uint8_t action_idx,
					    const struct doca_flow_actions *actions, const struct doca_flow_monitor *monitor,
					    const struct doca_flow_fwd *fwd, uint32_t flags, void *usr_ctx,
					    struct doca_flow_pipe_entry **entry)
{
	int pi = stub_pipe_index(pipe);
	struct doca_flow_pipe_entry *e;

	(void)pipe_queue;
	(void)action_idx;
	(void)fwd;
	(void)flags;
	if (pi < 0 || dpuc_pipe_tab[pi].table != DPUC_TABLE_ECHO) {
		*entry = &stub_static_entry;
		return DOCA_SUCCESS;
	}
	/* A connection's echo entry: what the manager wrote. */
	if (actions == NULL || monitor == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	e = stub_alloc(STUB_ECHO);
	if (e == NULL)
		return DOCA_ERROR_NO_MEMORY;
	e->ipv6 = dpuc_pipe_tab[pi].l3 == DPUC_L3_IP6;
	e->proto = e->ipv6 ? 58 : 1;
	if (dpuc_ct.zone_word >= 0)
		e->zone[0] = be32(match->meta.u32[dpuc_ct.zone_word]);
	if (e->ipv6) {
		int i;

		for (i = 0; i < 4; i++) {
			put_be32(e->src[0] + 4 * i, match->outer.ip6.src_ip[i]);
			put_be32(e->dst[0] + 4 * i, match->outer.ip6.dst_ip[i]);
		}
	} else {
		put_be32(e->src[0], match->outer.ip4.src_ip);
		put_be32(e->dst[0], match->outer.ip4.dst_ip);
	}
	e->sport[0] = be16(match->outer.icmp.ident);
	e->dport[0] = e->sport[0];
	e->bits[0] = be32(actions->meta.u32[dpuc_ct.state_word]);
	e->mark[0] = be32(actions->meta.u32[dpuc_ct.mark_word]);
	e->timeout = monitor->aging_sec;
	e->ctx = usr_ctx;
	*entry = e;
	return DOCA_SUCCESS;
}

doca_error_t doca_flow_pipe_control_add_entry(uint16_t pipe_queue, struct doca_flow_pipe *pipe,
					      const struct doca_flow_match *match,
					      const struct doca_flow_match *match_mask,
					      const struct doca_flow_match_condition *condition,
					      const struct doca_flow_actions *actions,
					      const struct doca_flow_actions *actions_mask,
					      const struct doca_flow_action_descs *action_descs,
					      const struct doca_flow_monitor *monitor, uint32_t priority,
					      const struct doca_flow_fwd *fwd, void *usr_ctx,
					      struct doca_flow_pipe_entry **entry)
{
	(void)pipe_queue;
	(void)pipe;
	(void)match;
	(void)match_mask;
	(void)condition;
	(void)actions;
	(void)actions_mask;
	(void)action_descs;
	(void)monitor;
	(void)priority;
	(void)fwd;
	(void)usr_ctx;
	*entry = &stub_static_entry;
	return DOCA_SUCCESS;
}

doca_error_t doca_flow_pipe_lpm_add_entry(uint16_t pipe_queue, struct doca_flow_pipe *pipe,
					  const struct doca_flow_match *match, const struct doca_flow_match *match_mask,
					  uint8_t action_idx, const struct doca_flow_actions *actions,
					  const struct doca_flow_monitor *monitor, const struct doca_flow_fwd *fwd,
					  uint32_t flags, void *usr_ctx, struct doca_flow_pipe_entry **entry)
{
	(void)pipe_queue;
	(void)pipe;
	(void)match;
	(void)match_mask;
	(void)action_idx;
	(void)actions;
	(void)monitor;
	(void)fwd;
	(void)flags;
	(void)usr_ctx;
	*entry = &stub_static_entry;
	return DOCA_SUCCESS;
}

doca_error_t doca_flow_pipe_acl_add_entry(uint16_t pipe_queue, struct doca_flow_pipe *pipe,
					  const struct doca_flow_match *match, const struct doca_flow_match *match_mask,
					  uint8_t action_idx, const struct doca_flow_actions *actions,
					  const uint32_t priority, const struct doca_flow_fwd *fwd, uint32_t flags,
					  void *usr_ctx, struct doca_flow_pipe_entry **entry)
{
	(void)pipe_queue;
	(void)pipe;
	(void)match;
	(void)match_mask;
	(void)action_idx;
	(void)actions;
	(void)priority;
	(void)fwd;
	(void)flags;
	(void)usr_ctx;
	*entry = &stub_static_entry;
	return DOCA_SUCCESS;
}

STUB4(doca_flow_entries_process, struct doca_flow_port *, uint16_t, uint64_t, uint32_t)

enum doca_flow_entry_status doca_flow_pipe_entry_get_status(struct doca_flow_pipe_entry *entry)
{
	return entry != NULL && (entry == &stub_static_entry || entry->kind != STUB_FREE) ? DOCA_FLOW_ENTRY_STATUS_SUCCESS
											  : DOCA_FLOW_ENTRY_STATUS_ERROR;
}

doca_error_t doca_flow_pipe_remove_entry(uint16_t pipe_queue, uint32_t flags, struct doca_flow_pipe_entry *entry)
{
	(void)pipe_queue;
	(void)flags;
	if (!stub_dynamic(entry) || entry->kind != STUB_ECHO)
		return DOCA_ERROR_INVALID_VALUE;
	entry->kind = STUB_FREE;
	return DOCA_SUCCESS;
}

doca_error_t doca_flow_resource_query_entry(struct doca_flow_pipe_entry *entry, struct doca_flow_resource_query *data)
{
	(void)entry;
	memset(data, 0, sizeof(*data));
	return DOCA_SUCCESS;
}

doca_error_t doca_flow_get_target(enum doca_flow_target_type type, struct doca_flow_target **target)
{
	(void)type;
	*target = &stub_target;
	return DOCA_SUCCESS;
}

STUB4(doca_flow_port_shared_resource_set_cfg, struct doca_flow_port *, enum doca_flow_shared_resource_type, uint32_t, struct doca_flow_shared_resource_cfg *)

doca_error_t doca_flow_port_shared_resource_get(struct doca_flow_port *port, enum doca_flow_shared_resource_type type,
						uint32_t *shared_resource_id)
{
	(void)port;
	(void)type;
	*shared_resource_id = 0;
	return DOCA_SUCCESS;
}

STUB3(doca_flow_port_shared_resource_put, struct doca_flow_port *, enum doca_flow_shared_resource_type, uint32_t)

doca_error_t doca_flow_port_shared_resources_query(struct doca_flow_port *port,
						   enum doca_flow_shared_resource_type type, uint32_t *res_array,
						   struct doca_flow_resource_query *data_array, uint32_t array_len)
{
	(void)port;
	(void)type;
	(void)res_array;
	memset(data_array, 0, sizeof(*data_array) * array_len);
	return DOCA_SUCCESS;
}

/* ---- DOCA Flow CT ---- */

doca_error_t doca_flow_ct_cfg_create(struct doca_flow_ct_cfg **cfg)
{
	*cfg = &stub_ct_cfg;
	return DOCA_SUCCESS;
}

STUB1(doca_flow_ct_cfg_destroy, struct doca_flow_ct_cfg *)

STUB2(doca_flow_ct_cfg_set_queues, struct doca_flow_ct_cfg *, uint32_t)

STUB2(doca_flow_ct_cfg_set_ctrl_queues, struct doca_flow_ct_cfg *, uint32_t)

STUB2(doca_flow_ct_cfg_set_user_actions, struct doca_flow_ct_cfg *, uint32_t)

STUB4(doca_flow_ct_cfg_set_connections, struct doca_flow_ct_cfg *, uint32_t, uint32_t, uint32_t)

STUB2(doca_flow_ct_cfg_set_max_connections_per_zone, struct doca_flow_ct_cfg *, uint32_t)

STUB5(doca_flow_ct_cfg_set_direction, struct doca_flow_ct_cfg *, bool, bool, struct doca_flow_meta *, struct doca_flow_ct_meta *)

STUB1(doca_flow_ct_init, const struct doca_flow_ct_cfg *)

void doca_flow_ct_destroy(void)
{
}

doca_error_t doca_flow_ct_entries_process(struct doca_flow_port *port, uint16_t pipe_queue, uint32_t min_room,
					  uint32_t max_processed_entries, uint32_t *queue_room)
{
	(void)port;
	(void)pipe_queue;
	(void)min_room;
	(void)max_processed_entries;
	if (queue_room != NULL)
		*queue_room = UINT32_MAX;
	return DOCA_SUCCESS;
}

doca_error_t doca_flow_ct_entry_prepare(uint16_t queue, struct doca_flow_pipe *pipe, uint32_t flags,
					struct doca_flow_ct_match *match_origin, uint32_t hash_origin,
					struct doca_flow_ct_match *match_reply, uint32_t hash_reply,
					struct doca_flow_pipe_entry **entry, bool *conn_found)
{
	(void)queue;
	(void)flags;
	(void)match_origin;
	(void)hash_origin;
	(void)match_reply;
	(void)hash_reply;
	if (pipe != dpuc_pipe[dpuc_ct.pipe])
		return DOCA_ERROR_INVALID_VALUE;
	*entry = stub_alloc(STUB_CT);
	if (*entry == NULL)
		return DOCA_ERROR_NO_MEMORY;
	if (conn_found != NULL)
		*conn_found = false;
	return DOCA_SUCCESS;
}

doca_error_t doca_flow_ct_entry_prepare_rollback(uint16_t queue, struct doca_flow_pipe *pipe,
						 struct doca_flow_pipe_entry *entry)
{
	(void)queue;
	(void)pipe;
	if (!stub_dynamic(entry))
		return DOCA_ERROR_INVALID_VALUE;
	entry->kind = STUB_FREE;
	return DOCA_SUCCESS;
}

static void stub_ct_dir(struct doca_flow_pipe_entry *e, int d, const struct doca_flow_ct_match *m, bool ipv6)
{
	int i;

	if (ipv6) {
		for (i = 0; i < 4; i++) {
			put_be32(e->src[d] + 4 * i, m->ipv6.src_ip[i]);
			put_be32(e->dst[d] + 4 * i, m->ipv6.dst_ip[i]);
		}
		e->sport[d] = be16(m->ipv6.l4_port.src_port);
		e->dport[d] = be16(m->ipv6.l4_port.dst_port);
		e->zone[d] = be32(m->ipv6.metadata);
		e->proto = m->ipv6.next_proto;
	} else {
		put_be32(e->src[d], m->ipv4.src_ip);
		put_be32(e->dst[d], m->ipv4.dst_ip);
		e->sport[d] = be16(m->ipv4.l4_port.src_port);
		e->dport[d] = be16(m->ipv4.l4_port.dst_port);
		e->zone[d] = be32(m->ipv4.metadata);
		e->proto = m->ipv4.next_proto;
	}
}

static void stub_ct_actions(struct doca_flow_pipe_entry *e, const struct doca_flow_ct_actions *ao,
			    const struct doca_flow_ct_actions *ar)
{
	e->bits[0] = be32(ao->data.meta.flow.u32[dpuc_ct.state_word]);
	e->mark[0] = be32(ao->data.meta.flow.u32[dpuc_ct.mark_word]);
	e->bits[1] = be32(ar->data.meta.flow.u32[dpuc_ct.state_word]);
	e->mark[1] = be32(ar->data.meta.flow.u32[dpuc_ct.mark_word]);
}

doca_error_t doca_flow_ct_add_entry(uint16_t queue, struct doca_flow_pipe *pipe, uint32_t flags,
				    struct doca_flow_ct_match *match_origin, struct doca_flow_ct_match *match_reply,
				    const struct doca_flow_ct_actions *actions_origin,
				    const struct doca_flow_ct_actions *actions_reply, uint32_t fwd_handle_origin,
				    uint32_t fwd_handle_reply, uint32_t timeout_s, void *usr_ctx,
				    struct doca_flow_pipe_entry *entry)
{
	const uint32_t both = DOCA_FLOW_CT_ENTRY_FLAGS_DIR_ORIGIN | DOCA_FLOW_CT_ENTRY_FLAGS_DIR_REPLY;

	(void)queue;
	(void)fwd_handle_origin;
	(void)fwd_handle_reply;
	if (pipe != dpuc_pipe[dpuc_ct.pipe] || !stub_dynamic(entry) || entry->kind != STUB_CT ||
	    (flags & both) != both || actions_origin == NULL || actions_reply == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	entry->ipv6 = (flags & DOCA_FLOW_CT_ENTRY_FLAGS_IPV6_ORIGIN) != 0;
	stub_ct_dir(entry, 0, match_origin, entry->ipv6);
	stub_ct_dir(entry, 1, match_reply, entry->ipv6);
	stub_ct_actions(entry, actions_origin, actions_reply);
	entry->timeout = timeout_s;
	entry->ctx = usr_ctx;
	return DOCA_SUCCESS;
}

doca_error_t doca_flow_ct_update_entry(uint16_t queue, struct doca_flow_pipe *pipe, uint32_t flags,
				       struct doca_flow_pipe_entry *entry,
				       const struct doca_flow_ct_actions *actions_origin,
				       const struct doca_flow_ct_actions *actions_reply, uint32_t fwd_handle_origin,
				       uint32_t fwd_handle_reply, uint32_t timeout_s)
{
	(void)queue;
	(void)flags;
	(void)fwd_handle_origin;
	(void)fwd_handle_reply;
	if (pipe != dpuc_pipe[dpuc_ct.pipe] || !stub_dynamic(entry) || entry->kind != STUB_CT ||
	    actions_origin == NULL || actions_reply == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	stub_ct_actions(entry, actions_origin, actions_reply);
	entry->timeout = timeout_s;
	return DOCA_SUCCESS;
}

doca_error_t doca_flow_ct_rm_entry(uint16_t queue, struct doca_flow_pipe *pipe, uint32_t flags,
				   struct doca_flow_pipe_entry *entry)
{
	(void)queue;
	(void)flags;
	if (pipe != dpuc_pipe[dpuc_ct.pipe] || !stub_dynamic(entry) || entry->kind != STUB_CT)
		return DOCA_ERROR_INVALID_VALUE;
	entry->kind = STUB_FREE;
	return DOCA_SUCCESS;
}

/* ---- aging: the application's entry-process callback and DOCA's handler ---- */

static void app_entry_process(struct doca_flow_pipe_entry *entry, uint16_t queue, enum doca_flow_entry_status status,
			      enum doca_flow_entry_op op, void *user_ctx)
{
	if (!dpuc_ct_entry_process(entry, queue, status, op, user_ctx))
		stub_unclaimed++;
}

int doca_flow_aging_handle(struct doca_flow_port *port, uint16_t queue, uint64_t quota, uint64_t max_entries)
{
	int i, n = 0;

	(void)port;
	(void)quota;
	(void)max_entries;
	for (i = 0; i < STUB_ENTRIES; i++) {
		struct doca_flow_pipe_entry *e = &stub_entries[i];

		/* The callback may remove other entries (an echo connection's sibling). */
		if (e->kind == STUB_FREE || !e->aged)
			continue;
		e->aged = false;
		app_entry_process(e, queue, DOCA_FLOW_ENTRY_STATUS_SUCCESS, DOCA_FLOW_ENTRY_OP_AGED, e->ctx);
		n++;
	}
	return n > 0 ? n : -1;
}

/* ---- the driver ---- */

static void key_of(const struct doca_flow_pipe_entry *e, int d, char *out, size_t n)
{
	char src[33], dst[33];
	int len = e->ipv6 ? 16 : 4, i;

	for (i = 0; i < len; i++) {
		snprintf(src + 2 * i, 3, "%02x", e->src[d][i]);
		snprintf(dst + 2 * i, 3, "%02x", e->dst[d][i]);
	}
	snprintf(out, n, "%u %u %s:%u>%s:%u", e->proto, e->zone[d], src, e->sport[d], dst, e->dport[d]);
}

static int cmp_lines(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static void dump(void)
{
	static char lines[2 * STUB_ENTRIES][160];
	char key[128];
	int i, d, n = 0;

	for (i = 0; i < STUB_ENTRIES; i++) {
		const struct doca_flow_pipe_entry *e = &stub_entries[i];

		if (e->kind == STUB_FREE || e->aged)
			continue;
		for (d = 0; d < (e->kind == STUB_CT ? 2 : 1); d++) {
			key_of(e, d, key, sizeof(key));
			snprintf(lines[n++], sizeof(lines[0]), "%s bits=%x mark=%u t=%u", key, e->bits[d], e->mark[d],
				 e->timeout);
		}
	}
	qsort(lines, (size_t)n, sizeof(lines[0]), cmp_lines);
	for (i = 0; i < n; i++)
		printf("%s\n", lines[i]);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static doca_error_t reset(void)
{
	doca_error_t rc;

	dpuc_ct_destroy();
	/* Destroying the pipes and CT removed every connection entry. */
	memset(stub_entries, 0, sizeof(stub_entries));
	rc = dpuc_ct_init(1, 1, 0);
	if (rc != DOCA_SUCCESS)
		return rc;
	return dpuc_install(stub_ports, STUB_PORTS);
}

int main(void)
{
	static uint8_t frame[65536];
	char *line = NULL, key[128];
	size_t cap = 0;
	ssize_t got;
	int i;

	for (i = 0; i < STUB_PORTS; i++)
		stub_ports[i] = &stub_port;
	while ((got = getline(&line, &cap, stdin)) > 0) {
		if (line[got - 1] == '\n')
			line[got - 1] = '\0';
		if (strcmp(line, "reset") == 0) {
			doca_error_t rc = reset();

			if (rc != DOCA_SUCCESS)
				printf("error %d\n", rc);
			else
				printf("ok\n");
		} else if (strncmp(line, "age ", 4) == 0 || strncmp(line, "late-age ", 9) == 0) {
			bool late = line[0] == 'l';
			const char *want = line + (late ? 9 : 4);
			doca_error_t rc = DOCA_SUCCESS;
			int d, found = 0;

			for (i = 0; i < STUB_ENTRIES; i++) {
				if (stub_entries[i].kind == STUB_FREE)
					continue;
				/* A CT entry's original direction is its first; an echo entry has one. */
				d = 0;
				key_of(&stub_entries[i], d, key, sizeof(key));
				if (strcmp(key, want) == 0) {
					stub_entries[i].aged = true;
					found++;
				}
			}
			stub_unclaimed = 0;
			if (!late)
				rc = dpuc_ct_aging(0, 0);
			if (found == 0)
				printf("no entry %s\n", want);
			else if (rc != DOCA_SUCCESS || stub_unclaimed != 0)
				printf("error %d unclaimed %u\n", rc, stub_unclaimed);
			else
				printf("ok\n");
		} else if (strncmp(line, "pkt ", 4) == 0) {
			struct dpuc_ct_delivery out;
			unsigned cls, port;
			unsigned long long now;
			int off = 0;
			size_t len = 0;
			const char *hex;
			doca_error_t rc;

			if (sscanf(line + 4, "%u %u %llu %n", &cls, &port, &now, &off) != 3) {
				printf("bad command\nend\n");
				continue;
			}
			for (hex = line + 4 + off; hex[0] != '\0' && hex[1] != '\0' && len < sizeof(frame); hex += 2)
				frame[len++] = (uint8_t)(hexval(hex[0]) * 16 + hexval(hex[1]));
			rc = dpuc_ct_handle(0, frame, len, cls, port, now, &out);
			if (rc != DOCA_SUCCESS)
				printf("error %d\n", rc);
			else if (out.full)
				printf("full\n");
			else if (out.fwd_kind == DPUC_FWD_PORT)
				printf("port %u\n", out.port);
			else if (out.fwd_kind == DPUC_FWD_KERNEL)
				printf("kernel\n");
			else
				printf("drop\n");
			dump();
		} else {
			printf("bad command\n");
		}
		printf("end\n");
		fflush(stdout);
	}
	free(line);
	dpuc_ct_destroy();
	return 0;
}
