
/* ---- the connection manager: DPL §5 on the Arm (emitted when the policy tracks) ---- */

/*
 * The pipes send the manager every packet that changes a connection or
 * opens one (RSS queue of dpuc_ct_init, class id in meta.pkt_meta). The
 * manager keeps its own table of connections, applies §5's lookup to the
 * packet exactly as runtime::conntrack::Tracker does, commits what the class
 * says, and rewrites the connection's CT (or echo) entries so that each
 * direction says what §5 would answer to the next packet that way.
 *
 * Liveness: the device ages connections. DOCA reports an aged entry through
 * the entry-process callback (op DOCA_FLOW_ENTRY_OP_AGED) inside
 * doca_flow_aging_handle(), with the user context given when the entry was
 * added, and leaves its removal to the application. dpuc_ct_aging() runs that
 * handler; the application's callback passes every call to
 * dpuc_ct_entry_process(), which removes the manager's aged connections.
 */

#define DPUC_TCP_FIN 0x01
#define DPUC_TCP_SYN 0x02
#define DPUC_TCP_RST 0x04
#define DPUC_TCP_ACK 0x10
#define DPUC_MGR_NONE UINT32_MAX
#define DPUC_MGR_MAX_EXT 8

enum dpuc_tcp_state {
	DPUC_TCP_NONE, /* UDP, ICMP echo */
	DPUC_TCP_SYN_SENT,
	DPUC_TCP_SYN_RECV,
	DPUC_TCP_ESTABLISHED,
	DPUC_TCP_FIN_WAIT,
	DPUC_TCP_CLOSE_WAIT,
	DPUC_TCP_LAST_ACK,
	DPUC_TCP_TIME_WAIT,
};

enum dpuc_ct_state { DPUC_ST_NEW, DPUC_ST_ESTABLISHED, DPUC_ST_RELATED, DPUC_ST_INVALID, DPUC_ST_UNTRACKED };

enum { DPUC_BAD_NONE, DPUC_BAD_L2, DPUC_BAD_L3, DPUC_BAD_L4 };
enum { DPUC_P4_NONE, DPUC_P4_TCP, DPUC_P4_UDP, DPUC_P4_SCTP, DPUC_P4_ICMP };
enum { DPUC_FRAG_NONE, DPUC_FRAG_FIRST, DPUC_FRAG_LATER };

/* One connection: §5's state and what its entries hold. */
struct dpuc_mgr_conn {
	bool used;
	struct dpuc_ct_key key; /* the original direction */
	uint8_t tcp;
	bool fin_orig, fin_reply, replied;
	uint32_t mark;
	bool installed;
	bool hw_failed; /* DOCA reported an entry of it failed (entry-process callback) */
	uint64_t last_ns; /* the last packet of it the manager saw (Tracker's touch) */
	uint32_t hw_bits[2], hw_mark, hw_timeout;
	struct dpuc_ct_conn conn;
	uint32_t next[2]; /* hash chains of the two directions: node = slot * 2 + direction */
};

static struct {
	struct dpuc_mgr_conn *slots;
	uint32_t nb_slots;
	uint32_t *heads;
	uint32_t bucket_mask;
	uint32_t *free_ids;
	uint32_t nb_free;
	doca_error_t aging_rc;
} dpuc_mgr;

/* The parts of a frame §5 reads, as runtime::packet parses them. */
struct dpuc_pkt {
	uint8_t bad;
	bool has_ip, ipv6;
	uint8_t src[16], dst[16];
	uint8_t proto;
	uint8_t frag;
	size_t l4_at;
	uint8_t l4;
	uint16_t sport, dport;
	uint8_t flags; /* TCP flags */
	uint8_t icmp_type;
	uint16_t icmp_id;
};

static void dpuc_mgr_free(void)
{
	free(dpuc_mgr.slots);
	free(dpuc_mgr.heads);
	free(dpuc_mgr.free_ids);
	memset(&dpuc_mgr, 0, sizeof(dpuc_mgr));
}

/* Called by dpuc_ct_init: a table of max_entries connections, all free. */
static doca_error_t dpuc_mgr_alloc(void)
{
	uint32_t n = dpuc_ct.max_entries > 0 ? dpuc_ct.max_entries : 1;
	uint32_t buckets = 16, i;

	/* Hash nodes are slot * 2 + direction in 32 bits. */
	if (n > (UINT32_MAX - 1) / 2)
		return DOCA_ERROR_NO_MEMORY;
	while (buckets < 2 * n && buckets < (1u << 30))
		buckets <<= 1;
	memset(&dpuc_mgr, 0, sizeof(dpuc_mgr));
	dpuc_mgr.slots = calloc(n, sizeof(*dpuc_mgr.slots));
	dpuc_mgr.heads = malloc((size_t)buckets * sizeof(*dpuc_mgr.heads));
	dpuc_mgr.free_ids = malloc((size_t)n * sizeof(*dpuc_mgr.free_ids));
	if (dpuc_mgr.slots == NULL || dpuc_mgr.heads == NULL || dpuc_mgr.free_ids == NULL) {
		dpuc_mgr_free();
		return DOCA_ERROR_NO_MEMORY;
	}
	dpuc_mgr.nb_slots = n;
	dpuc_mgr.bucket_mask = buckets - 1;
	for (i = 0; i < buckets; i++)
		dpuc_mgr.heads[i] = DPUC_MGR_NONE;
	/* Slot 0 is handed out first. */
	for (i = 0; i < n; i++)
		dpuc_mgr.free_ids[i] = n - 1 - i;
	dpuc_mgr.nb_free = n;
	return DOCA_SUCCESS;
}

/* ---- parsing (runtime::packet, outer layer only) ---- */

static bool dpuc_has(size_t len, size_t at, size_t n)
{
	return at <= len && n <= len - at;
}

static void dpuc_mgr_l4(const uint8_t *f, size_t len, struct dpuc_pkt *p)
{
	size_t at = p->l4_at;
	size_t doff;

	switch (p->proto) {
	case 6:
		if (!dpuc_has(len, at, 20)) {
			p->bad = DPUC_BAD_L4;
			return;
		}
		doff = (size_t)(f[at + 12] >> 4) * 4;
		if (doff < 20 || !dpuc_has(len, at, doff)) {
			p->bad = DPUC_BAD_L4;
			return;
		}
		p->l4 = DPUC_P4_TCP;
		p->sport = dpuc_u16(f + at);
		p->dport = dpuc_u16(f + at + 2);
		p->flags = f[at + 13];
		break;
	case 17:
		if (!dpuc_has(len, at, 8)) {
			p->bad = DPUC_BAD_L4;
			return;
		}
		p->l4 = DPUC_P4_UDP;
		p->sport = dpuc_u16(f + at);
		p->dport = dpuc_u16(f + at + 2);
		break;
	case 132:
		if (!dpuc_has(len, at, 12)) {
			p->bad = DPUC_BAD_L4;
			return;
		}
		p->l4 = DPUC_P4_SCTP;
		break;
	case 1:
	case 58:
		if (!dpuc_has(len, at, 8)) {
			p->bad = DPUC_BAD_L4;
			return;
		}
		p->l4 = DPUC_P4_ICMP;
		p->icmp_type = f[at];
		/* The runtime reads the identifier of echo messages only. */
		if (p->proto == 58 ? (f[at] == 128 || f[at] == 129) : (f[at] == 8 || f[at] == 0))
			p->icmp_id = dpuc_u16(f + at + 4);
		break;
	default:
		break;
	}
}

/* IPv6 extension headers; false when cut short or too many. */
static bool dpuc_mgr_v6_walk(const uint8_t *f, size_t len, size_t at, uint8_t *proto, size_t *l4_at,
			     uint8_t *frag)
{
	uint8_t next;
	size_t pos = at + 40, hl;
	uint16_t off_m;
	int i;

	if (!dpuc_has(len, at + 6, 1))
		return false;
	next = f[at + 6];
	*frag = DPUC_FRAG_NONE;
	for (i = 0; i <= DPUC_MGR_MAX_EXT; i++) {
		switch (next) {
		case 0:
		case 43:
		case 60:
			if (!dpuc_has(len, pos, 2))
				return false;
			hl = ((size_t)f[pos + 1] + 1) * 8;
			if (!dpuc_has(len, pos, hl))
				return false;
			next = f[pos];
			pos += hl;
			break;
		case 44:
			if (!dpuc_has(len, pos, 8))
				return false;
			off_m = dpuc_u16(f + pos + 2);
			*frag = (off_m >> 3) != 0 ? DPUC_FRAG_LATER : (off_m & 1) ? DPUC_FRAG_FIRST : DPUC_FRAG_NONE;
			next = f[pos];
			pos += 8;
			break;
		default:
			*proto = next;
			*l4_at = pos;
			return true;
		}
	}
	return false;
}

static void dpuc_mgr_parse(const uint8_t *f, size_t len, struct dpuc_pkt *p)
{
	size_t at = 14, ihl;
	uint16_t ty, total, flags_off;
	int i;

	memset(p, 0, sizeof(*p));
	if (!dpuc_has(len, 0, 14)) {
		p->bad = DPUC_BAD_L2;
		return;
	}
	ty = dpuc_u16(f + 12);
	for (i = 0; i < 2 && (ty == 0x8100 || ty == 0x88a8); i++) {
		if (!dpuc_has(len, at, 4)) {
			p->bad = DPUC_BAD_L2;
			return;
		}
		ty = dpuc_u16(f + at + 2);
		at += 4;
	}
	if (ty == 0x0800) {
		if (!dpuc_has(len, at, 20)) {
			p->bad = DPUC_BAD_L3;
			return;
		}
		ihl = (size_t)(f[at] & 0x0f) * 4;
		total = dpuc_u16(f + at + 2);
		if (f[at] >> 4 != 4 || ihl < 20 || total < ihl || !dpuc_has(len, at, total)) {
			p->bad = DPUC_BAD_L3;
			return;
		}
		flags_off = dpuc_u16(f + at + 6);
		p->frag = (flags_off & 0x1fff) != 0 ? DPUC_FRAG_LATER
			  : (flags_off & 0x2000)    ? DPUC_FRAG_FIRST
						    : DPUC_FRAG_NONE;
		p->has_ip = true;
		p->proto = f[at + 9];
		memcpy(p->src, f + at + 12, 4);
		memcpy(p->dst, f + at + 16, 4);
		p->l4_at = at + ihl;
	} else if (ty == 0x86dd) {
		if (!dpuc_has(len, at, 40)) {
			p->bad = DPUC_BAD_L3;
			return;
		}
		if (f[at] >> 4 != 6 || !dpuc_has(len, at + 40, dpuc_u16(f + at + 4)) ||
		    !dpuc_mgr_v6_walk(f, len, at, &p->proto, &p->l4_at, &p->frag)) {
			p->bad = DPUC_BAD_L3;
			return;
		}
		p->has_ip = true;
		p->ipv6 = true;
		memcpy(p->src, f + at + 8, 16);
		memcpy(p->dst, f + at + 24, 16);
	} else {
		return;
	}
	if (p->frag != DPUC_FRAG_LATER)
		dpuc_mgr_l4(f, len, p);
}

/* The tuple an ICMP error quotes (runtime::packet::quoted); false if none. */
static bool dpuc_mgr_quoted(const uint8_t *f, size_t len, const struct dpuc_pkt *p, struct dpuc_ct_key *q)
{
	size_t at = p->l4_at + 8, l4_at;
	bool error;

	error = p->proto == 58 ? (p->icmp_type >= 1 && p->icmp_type <= 4)
			       : (p->icmp_type == 3 || p->icmp_type == 4 || p->icmp_type == 5 ||
				  p->icmp_type == 11 || p->icmp_type == 12);
	if (!error || !dpuc_has(len, at, 1))
		return false;
	memset(q, 0, sizeof(*q));
	if (f[at] >> 4 == 4) {
		if (!dpuc_has(len, at, 20))
			return false;
		q->proto = f[at + 9];
		memcpy(q->src, f + at + 12, 4);
		memcpy(q->dst, f + at + 16, 4);
		l4_at = at + (size_t)(f[at] & 0x0f) * 4;
	} else if (f[at] >> 4 == 6) {
		if (!dpuc_has(len, at, 40))
			return false;
		q->ipv6 = true;
		q->proto = f[at + 6];
		memcpy(q->src, f + at + 8, 16);
		memcpy(q->dst, f + at + 24, 16);
		l4_at = at + 40;
	} else {
		return false;
	}
	if (!dpuc_has(len, l4_at, 8))
		return false;
	if (q->proto == 1 || q->proto == 58) {
		q->sport = dpuc_u16(f + l4_at + 4);
		q->dport = q->sport;
	} else {
		q->sport = dpuc_u16(f + l4_at);
		q->dport = dpuc_u16(f + l4_at + 2);
	}
	return true;
}

/* ---- the table ---- */

/* `k` seen the other way. */
static void dpuc_mgr_reverse(struct dpuc_ct_key *r, const struct dpuc_ct_key *k)
{
	*r = *k;
	memcpy(r->src, k->dst, sizeof(r->src));
	memcpy(r->dst, k->src, sizeof(r->dst));
	r->sport = k->dport;
	r->dport = k->sport;
}

static bool dpuc_mgr_same(const struct dpuc_ct_key *a, const struct dpuc_ct_key *b)
{
	return a->ipv6 == b->ipv6 && a->proto == b->proto && a->zone == b->zone && a->sport == b->sport &&
	       a->dport == b->dport && memcmp(a->src, b->src, 16) == 0 && memcmp(a->dst, b->dst, 16) == 0;
}

static uint32_t dpuc_mgr_hash(const struct dpuc_ct_key *k)
{
	uint32_t h = 2166136261u;
	uint8_t b[44];
	size_t i;

	memcpy(b, k->src, 16);
	memcpy(b + 16, k->dst, 16);
	dpuc_be32(b + 32, k->zone);
	b[36] = (uint8_t)(k->sport >> 8);
	b[37] = (uint8_t)k->sport;
	b[38] = (uint8_t)(k->dport >> 8);
	b[39] = (uint8_t)k->dport;
	b[40] = k->proto;
	b[41] = k->ipv6;
	b[42] = 0;
	b[43] = 0;
	for (i = 0; i < sizeof(b); i++)
		h = (h ^ b[i]) * 16777619u;
	return h & dpuc_mgr.bucket_mask;
}

/* The connection `t` belongs to and the packet's direction; the original
 * direction wins, as in Tracker::find. */
static struct dpuc_mgr_conn *dpuc_mgr_find(const struct dpuc_ct_key *t, bool *reply)
{
	struct dpuc_mgr_conn *as_reply = NULL;
	struct dpuc_ct_key r;
	uint32_t node;

	for (node = dpuc_mgr.heads[dpuc_mgr_hash(t)]; node != DPUC_MGR_NONE;
	     node = dpuc_mgr.slots[node / 2].next[node % 2]) {
		struct dpuc_mgr_conn *c = &dpuc_mgr.slots[node / 2];

		if (node % 2 == 0 && dpuc_mgr_same(&c->key, t)) {
			*reply = false;
			return c;
		}
		if (node % 2 == 1 && as_reply == NULL) {
			dpuc_mgr_reverse(&r, &c->key);
			if (dpuc_mgr_same(&r, t))
				as_reply = c;
		}
	}
	*reply = true;
	return as_reply;
}

static void dpuc_mgr_unlink(uint32_t node, const struct dpuc_ct_key *k)
{
	uint32_t *at = &dpuc_mgr.heads[dpuc_mgr_hash(k)];

	while (*at != DPUC_MGR_NONE && *at != node)
		at = &dpuc_mgr.slots[*at / 2].next[*at % 2];
	if (*at == node)
		*at = dpuc_mgr.slots[node / 2].next[node % 2];
}

static uint32_t dpuc_mgr_id(const struct dpuc_mgr_conn *c)
{
	return (uint32_t)(c - dpuc_mgr.slots);
}

/* Forgets a connection whose entries are gone. */
static void dpuc_mgr_release(struct dpuc_mgr_conn *c)
{
	struct dpuc_ct_key r;
	uint32_t id = dpuc_mgr_id(c);

	dpuc_mgr_reverse(&r, &c->key);
	dpuc_mgr_unlink(2 * id, &c->key);
	dpuc_mgr_unlink(2 * id + 1, &r);
	memset(c, 0, sizeof(*c));
	dpuc_mgr.free_ids[dpuc_mgr.nb_free++] = id;
}

/* Removes a connection and its entries. */
static doca_error_t dpuc_mgr_remove(uint16_t queue, struct dpuc_mgr_conn *c)
{
	doca_error_t rc = DOCA_SUCCESS;

	if (c->installed)
		rc = dpuc_ct_conn_remove(queue, &c->conn);
	dpuc_mgr_release(c);
	return rc;
}

static struct dpuc_mgr_conn *dpuc_mgr_create(const struct dpuc_ct_key *t, uint32_t mark, uint64_t now_ns)
{
	struct dpuc_mgr_conn *c;
	struct dpuc_ct_key r;
	uint32_t id, h;

	if (dpuc_mgr.nb_free == 0)
		return NULL;
	id = dpuc_mgr.free_ids[--dpuc_mgr.nb_free];
	c = &dpuc_mgr.slots[id];
	memset(c, 0, sizeof(*c));
	c->used = true;
	c->key = *t;
	c->tcp = t->proto == 6 ? DPUC_TCP_SYN_SENT : DPUC_TCP_NONE;
	c->mark = mark;
	c->last_ns = now_ns;
	h = dpuc_mgr_hash(t);
	c->next[0] = dpuc_mgr.heads[h];
	dpuc_mgr.heads[h] = 2 * id;
	dpuc_mgr_reverse(&r, t);
	h = dpuc_mgr_hash(&r);
	c->next[1] = dpuc_mgr.heads[h];
	dpuc_mgr.heads[h] = 2 * id + 1;
	return c;
}

/* ---- §5 ---- */

/* The simplified nf_conntrack machine (Tracker's `advance`). */
static void dpuc_mgr_advance(struct dpuc_mgr_conn *c, bool reply, uint8_t flags)
{
	bool ack = (flags & DPUC_TCP_ACK) != 0, syn = (flags & DPUC_TCP_SYN) != 0;
	uint8_t s = c->tcp;

	if (flags & DPUC_TCP_FIN) {
		if (reply)
			c->fin_reply = true;
		else
			c->fin_orig = true;
	}
	if (s == DPUC_TCP_NONE)
		return;
	if (s == DPUC_TCP_SYN_SENT && reply && syn && ack)
		c->tcp = DPUC_TCP_SYN_RECV;
	else if (s == DPUC_TCP_SYN_RECV && !reply && ack && !syn)
		c->tcp = DPUC_TCP_ESTABLISHED;
	else if (c->fin_orig && c->fin_reply && ack && s == DPUC_TCP_LAST_ACK)
		c->tcp = DPUC_TCP_TIME_WAIT;
	else if (c->fin_orig && c->fin_reply && s != DPUC_TCP_TIME_WAIT)
		c->tcp = DPUC_TCP_LAST_ACK;
	else if ((s == DPUC_TCP_ESTABLISHED || s == DPUC_TCP_SYN_RECV) && c->fin_orig)
		c->tcp = DPUC_TCP_FIN_WAIT;
	else if ((s == DPUC_TCP_ESTABLISHED || s == DPUC_TCP_SYN_RECV) && c->fin_reply)
		c->tcp = DPUC_TCP_CLOSE_WAIT;
}

/* Whether a packet this way with `flags` changes nothing but the timer. */
static bool dpuc_mgr_noop(const struct dpuc_mgr_conn *c, bool reply, uint8_t flags)
{
	struct dpuc_mgr_conn after = *c;

	dpuc_mgr_advance(&after, reply, flags);
	return after.tcp == c->tcp && after.fin_orig == c->fin_orig && after.fin_reply == c->fin_reply;
}

/* What one direction's entry writes (ct::bits of Tracker::peek). */
static uint32_t dpuc_mgr_bits(const struct dpuc_mgr_conn *c, bool reply)
{
	uint32_t b = DPUC_CT_HIT;

	if (reply)
		b |= DPUC_CT_REPLY;
	if (reply || c->replied)
		b |= DPUC_CT_EST;
	if (!reply && c->tcp == DPUC_TCP_SYN_SENT)
		b |= DPUC_CT_SYN_OK;
	if (!reply && c->tcp == DPUC_TCP_TIME_WAIT)
		b |= DPUC_CT_TIME_WAIT;
	if ((!reply || c->replied) && dpuc_mgr_noop(c, reply, 0) && dpuc_mgr_noop(c, reply, DPUC_TCP_ACK))
		b |= DPUC_CT_FAST;
	return b;
}

/* The timeout of the connection's state, in seconds. */
static uint32_t dpuc_mgr_timeout(const struct dpuc_mgr_conn *c)
{
	switch (c->key.proto) {
	case 6:
		if (c->tcp == DPUC_TCP_SYN_SENT || c->tcp == DPUC_TCP_SYN_RECV)
			return dpuc_ct.timeout_s[DPUC_CT_TCP_HANDSHAKE];
		if (c->tcp == DPUC_TCP_ESTABLISHED)
			return dpuc_ct.timeout_s[DPUC_CT_TCP_ESTABLISHED];
		return dpuc_ct.timeout_s[DPUC_CT_TCP_CLOSING];
	case 17:
		return dpuc_ct.timeout_s[c->replied ? DPUC_CT_UDP_STREAM : DPUC_CT_UDP];
	default:
		return dpuc_ct.timeout_s[DPUC_CT_ICMP];
	}
}

/* Makes the connection's entries say what its state says. */
static doca_error_t dpuc_mgr_sync(uint16_t queue, struct dpuc_mgr_conn *c)
{
	uint32_t bo = dpuc_mgr_bits(c, false), br = dpuc_mgr_bits(c, true), t = dpuc_mgr_timeout(c);
	doca_error_t rc;

	if (!c->hw_failed && c->installed && bo == c->hw_bits[0] && br == c->hw_bits[1] && c->mark == c->hw_mark &&
	    t == c->hw_timeout)
		return DOCA_SUCCESS;
	if (c->installed)
		rc = dpuc_ct_conn_update(queue, &c->key, &c->conn, bo, br, c->mark, t, c);
	else
		rc = dpuc_ct_conn_add(queue, &c->key, bo, br, c->mark, t, c, &c->conn);
	if (rc != DOCA_SUCCESS)
		return rc;
	c->installed = true;
	c->hw_bits[0] = bo;
	c->hw_bits[1] = br;
	c->hw_mark = c->mark;
	c->hw_timeout = t;
	/* Installed, so that the caller's removal also frees the failed entries. */
	return c->hw_failed ? DOCA_ERROR_BAD_STATE : DOCA_SUCCESS;
}

/*
 * Whether the device may have aged `c` by `now_ns`. It counts from the last
 * hit, which is never before the last packet the manager saw, so a
 * connection the manager saw within its timeout is live; past it, only the
 * device knows (the packets that only refresh the timer skip the manager).
 * A clock that went backwards also asks the device.
 */
static bool dpuc_mgr_may_have_aged(const struct dpuc_mgr_conn *c, uint64_t now_ns)
{
	return now_ns - c->last_ns >= (uint64_t)dpuc_mgr_timeout(c) * 1000000000u;
}

/* The connection of `t` that the device still has: before trusting one that
 * may have aged, collects the device's aging reports. */
static doca_error_t dpuc_mgr_find_live(uint16_t queue, const struct dpuc_ct_key *t, uint64_t now_ns,
				       struct dpuc_mgr_conn **out, bool *reply)
{
	struct dpuc_mgr_conn *c = dpuc_mgr_find(t, reply);
	doca_error_t rc;

	if (c != NULL && dpuc_mgr_may_have_aged(c, now_ns)) {
		rc = dpuc_ct_aging(queue, 0);
		if (rc != DOCA_SUCCESS)
			return rc;
		c = dpuc_mgr_find(t, reply);
	}
	*out = c;
	return DOCA_SUCCESS;
}

/* Tracker::lookup's answer. */
struct dpuc_mgr_lookup {
	uint8_t state;
	bool reply;
	uint32_t mark;
	bool new_flow;		  /* commit creates `tuple` */
	struct dpuc_ct_key tuple; /* the packet's tuple */
	struct dpuc_mgr_conn *conn; /* the connection it belongs to */
	bool changed;		  /* the lookup advanced `conn` */
};

/* Tracker::lookup on the manager's table: advances the packet's connection. */
static doca_error_t dpuc_mgr_lookup(uint16_t queue, const uint8_t *f, size_t len, uint32_t zone, uint64_t now_ns,
				    struct dpuc_mgr_lookup *l)
{
	struct dpuc_pkt p;
	struct dpuc_ct_key *t = &l->tuple;
	struct dpuc_mgr_conn *c;
	bool reply, request, syn, rst;
	uint8_t flags = 0, request_type;
	doca_error_t rc;

	memset(l, 0, sizeof(*l));
	l->state = DPUC_ST_INVALID;
	dpuc_mgr_parse(f, len, &p);
	if (p.bad == DPUC_BAD_L3 || p.bad == DPUC_BAD_L4)
		return DOCA_SUCCESS;
	l->state = DPUC_ST_UNTRACKED;
	if (!p.has_ip || p.frag == DPUC_FRAG_LATER)
		return DOCA_SUCCESS;
	t->ipv6 = p.ipv6;
	t->proto = p.proto;
	t->zone = zone;
	memcpy(t->src, p.src, 16);
	memcpy(t->dst, p.dst, 16);
	request_type = p.proto == 58 ? 128 : 8;
	if (p.l4 == DPUC_P4_TCP || p.l4 == DPUC_P4_UDP) {
		t->sport = p.sport;
		t->dport = p.dport;
		flags = p.l4 == DPUC_P4_TCP ? p.flags : 0;
	} else if (p.l4 == DPUC_P4_ICMP &&
		   (p.icmp_type == request_type || p.icmp_type == (p.proto == 58 ? 129 : 0))) {
		t->sport = p.icmp_id;
		t->dport = p.icmp_id;
		flags = p.icmp_type;
	} else if (p.l4 == DPUC_P4_ICMP) {
		/* An error: related when the quoted packet belongs to a connection. */
		if (!dpuc_mgr_quoted(f, len, &p, t))
			return DOCA_SUCCESS;
		t->zone = zone;
		l->state = DPUC_ST_INVALID;
		if (t->proto != 6 && t->proto != 17 && t->proto != 1 && t->proto != 58)
			return DOCA_SUCCESS;
		rc = dpuc_mgr_find_live(queue, t, now_ns, &c, &reply);
		if (rc != DOCA_SUCCESS)
			return rc;
		if (c != NULL) {
			l->state = DPUC_ST_RELATED;
			l->reply = true;
			l->mark = c->mark;
			l->conn = c;
		}
		return DOCA_SUCCESS;
	} else {
		return DOCA_SUCCESS;
	}
	rc = dpuc_mgr_find_live(queue, t, now_ns, &c, &reply);
	if (rc != DOCA_SUCCESS)
		return rc;
	if (c == NULL) {
		bool opens = p.proto == 6 ? (flags & (DPUC_TCP_SYN | DPUC_TCP_ACK | DPUC_TCP_RST | DPUC_TCP_FIN)) ==
						    DPUC_TCP_SYN
				: p.proto == 17 ? true
						: flags == request_type;

		l->state = opens ? DPUC_ST_NEW : DPUC_ST_INVALID;
		l->new_flow = opens;
		return DOCA_SUCCESS;
	}
	l->state = DPUC_ST_INVALID;
	if (p.l4 == DPUC_P4_ICMP) {
		/* An echo request goes the original way, a reply the other. */
		request = flags == request_type;
		if (request == reply)
			return DOCA_SUCCESS;
	}
	l->state = reply || c->replied ? DPUC_ST_ESTABLISHED : DPUC_ST_NEW;
	rst = false;
	if (p.proto == 6) {
		syn = (flags & (DPUC_TCP_SYN | DPUC_TCP_ACK)) == DPUC_TCP_SYN;
		if (flags & DPUC_TCP_RST) {
			/* The RST sees the state it had; the connection ends after it. */
			rst = true;
		} else if (syn && !reply && c->tcp == DPUC_TCP_TIME_WAIT) {
			rc = dpuc_mgr_remove(queue, c);
			l->state = DPUC_ST_NEW;
			l->new_flow = true;
			return rc;
		} else if (syn && !(!reply && c->tcp == DPUC_TCP_SYN_SENT)) {
			l->state = DPUC_ST_INVALID;
			l->reply = reply;
			l->mark = c->mark;
			l->conn = c;
			return DOCA_SUCCESS;
		} else {
			dpuc_mgr_advance(c, reply, flags);
		}
	}
	if (reply)
		c->replied = true;
	if (c->replied && !reply && l->state == DPUC_ST_NEW)
		l->state = DPUC_ST_ESTABLISHED;
	l->reply = reply;
	l->mark = c->mark;
	c->last_ns = now_ns;
	if (rst)
		return dpuc_mgr_remove(queue, c);
	l->conn = c;
	l->changed = true;
	return DOCA_SUCCESS;
}

/*
 * Handles one packet the pipes sent to the manager: `frame` as received on
 * `queue`, `pkt_meta` its class id (the mbuf's DOCA Flow metadata),
 * `in_port` the port it arrived on, `now_ns` a monotonic clock (it only
 * tells when to ask the device whether a connection aged). Applies §5's lookup and the class's
 * commit, rewrites the connection's entries and fills `out`: send the
 * frame to `out->port` (DPUC_FWD_PORT), to the kernel, or drop it. On an
 * error `out` says drop and the connection is forgotten, entries included.
 */
doca_error_t dpuc_ct_handle(uint16_t queue, const uint8_t *frame, size_t len, uint32_t pkt_meta, uint32_t in_port,
			    uint64_t now_ns, struct dpuc_ct_delivery *out)
{
	const struct dpuc_ct_class_desc *k = dpuc_ct_class(pkt_meta);
	struct dpuc_mgr_lookup l;
	struct dpuc_mgr_conn *c;
	uint32_t zone = dpuc_ct.zone_word >= 0 ? in_port : 0;
	doca_error_t rc;

	if (out == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	memset(out, 0, sizeof(*out));
	out->fwd_kind = DPUC_FWD_DROP;
	if (!dpuc_ct_ready || dpuc_port == NULL || dpuc_mgr.slots == NULL)
		return DOCA_ERROR_BAD_STATE;
	if (frame == NULL || k == NULL || (k->has_zone && k->zone != zone))
		return DOCA_ERROR_INVALID_VALUE;
	rc = dpuc_mgr_lookup(queue, frame, len, zone, now_ns, &l);
	if (rc != DOCA_SUCCESS)
		return rc;
	c = l.conn;
	if (k->commit && l.state != DPUC_ST_INVALID && l.state != DPUC_ST_UNTRACKED) {
		uint32_t mark = k->set_mark ? k->mark : l.mark;

		if (l.new_flow) {
			if (dpuc_mgr.nb_free == 0) {
				/* Connections the device aged but not yet reported do not count. */
				rc = dpuc_ct_aging(queue, 0);
				if (rc != DOCA_SUCCESS)
					return rc;
			}
			c = dpuc_mgr.nb_free > 0 && dpuc_ct.max_entries > 0 ? dpuc_mgr_create(&l.tuple, mark, now_ns) : NULL;
			if (c == NULL) {
				out->full = true;
				return DOCA_SUCCESS;
			}
		} else if (c != NULL && c->mark != mark) {
			c->mark = mark;
			l.changed = true;
		}
	}
	if (c != NULL && (l.changed || l.new_flow)) {
		rc = dpuc_mgr_sync(queue, c);
		if (rc != DOCA_SUCCESS) {
			/* Forget it rather than keep a state its entries do not hold. */
			(void)dpuc_mgr_remove(queue, c);
			return rc;
		}
	}
	out->fwd_kind = k->fwd_kind;
	out->port = k->port;
	return DOCA_SUCCESS;
}

/* The manager's connection whose user context `user_ctx` is, or NULL. */
static struct dpuc_mgr_conn *dpuc_mgr_of(void *user_ctx)
{
	uintptr_t p = (uintptr_t)user_ctx, base = (uintptr_t)dpuc_mgr.slots;
	size_t off;

	if (dpuc_mgr.slots == NULL || p < base)
		return NULL;
	off = (size_t)(p - base);
	if (off % sizeof(*dpuc_mgr.slots) != 0 || off / sizeof(*dpuc_mgr.slots) >= dpuc_mgr.nb_slots)
		return NULL;
	return &dpuc_mgr.slots[off / sizeof(*dpuc_mgr.slots)];
}

/*
 * Pass every call of the application's doca_flow_entry_process_cb (set with
 * doca_flow_cfg_set_cb_entry_process) here first: returns true when the
 * entry is one of the manager's. An aged connection (op
 * DOCA_FLOW_ENTRY_OP_AGED, inside doca_flow_aging_handle) is removed, both
 * directions, and forgotten.
 */
bool dpuc_ct_entry_process(struct doca_flow_pipe_entry *entry, uint16_t queue, enum doca_flow_entry_status status,
			   enum doca_flow_entry_op op, void *user_ctx)
{
	struct dpuc_mgr_conn *c = dpuc_mgr_of(user_ctx);
	doca_error_t rc = DOCA_SUCCESS, rc2;
	int i;

	if (c == NULL)
		return false;
	/* The next change of the connection forgets it (dpuc_mgr_sync fails). */
	if (status == DOCA_FLOW_ENTRY_STATUS_ERROR && op != DOCA_FLOW_ENTRY_OP_AGED && c->used)
		c->hw_failed = true;
	/* A stale report (the connection is gone or was re-added) changes nothing. */
	if (op != DOCA_FLOW_ENTRY_OP_AGED || !c->used || !c->installed ||
	    (c->conn.entry[0] != entry && c->conn.entry[1] != entry))
		return true;
	/* Removal inside the aging handler: no waiting, the handler's caller processes the queue. */
	if (c->conn.echo) {
		for (i = 0; i < 2; i++) {
			if (c->conn.entry[i] == NULL)
				continue;
			rc2 = doca_flow_pipe_remove_entry(queue, DOCA_FLOW_ENTRY_FLAGS_NO_WAIT, c->conn.entry[i]);
			if (rc == DOCA_SUCCESS)
				rc = rc2;
		}
	} else {
		rc = doca_flow_ct_rm_entry(queue, dpuc_pipe[dpuc_ct.pipe], DOCA_FLOW_CT_ENTRY_FLAGS_NO_WAIT, entry);
	}
	if (rc != DOCA_SUCCESS && dpuc_mgr.aging_rc == DOCA_SUCCESS)
		dpuc_mgr.aging_rc = rc;
	dpuc_mgr_release(c);
	return true;
}

/*
 * Runs DOCA's aging handler on `queue` until it has reported every aged
 * entry (`quota` as doca_flow_aging_handle takes it), then pushes the
 * removals. Call it periodically from the manager's loop.
 */
doca_error_t dpuc_ct_aging(uint16_t queue, uint64_t quota)
{
	doca_error_t rc;
	uint32_t tries;
	int n = 0;

	if (!dpuc_ct_ready || dpuc_port == NULL || dpuc_mgr.slots == NULL)
		return DOCA_ERROR_BAD_STATE;
	dpuc_mgr.aging_rc = DOCA_SUCCESS;
	for (tries = 0; tries < DPUC_PROCESS_TRIES; tries++) {
		/* Room for removing a batch of connections, two rules each. */
		rc = doca_flow_ct_entries_process(dpuc_port, queue, 2 * DPUC_BATCH, 0, NULL);
		if (rc != DOCA_SUCCESS)
			return rc;
		n = doca_flow_aging_handle(dpuc_port, queue, quota, DPUC_BATCH);
		if (n < -1)
			return DOCA_ERROR_BAD_STATE;
		if (n == -1)
			break;
	}
	if (n != -1)
		return DOCA_ERROR_TIME_OUT;
	rc = doca_flow_ct_entries_process(dpuc_port, queue, 0, 0, NULL);
	if (rc != DOCA_SUCCESS)
		return rc;
	rc = doca_flow_entries_process(dpuc_port, queue, DPUC_PROCESS_TIMEOUT_US, 0);
	if (rc != DOCA_SUCCESS)
		return rc;
	return dpuc_mgr.aging_rc;
}
