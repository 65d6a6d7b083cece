/* ---- dpuc DOCA Flow installer (fixed part; the tables above drive it) ---- */

#define DPUC_QUEUE 0
#define DPUC_BATCH 64
#define DPUC_PROCESS_TIMEOUT_US 10000
#define DPUC_PROCESS_TRIES 1000

static const uint8_t dpuc_ones[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static struct doca_flow_port *dpuc_port;
static struct doca_flow_target *dpuc_kernel;
static struct doca_flow_pipe *dpuc_pipe[DPUC_NB_PIPES];
static struct doca_flow_pipe_entry *dpuc_entry[DPUC_NB_ENTRIES + 1];
static uint32_t dpuc_nb_created;
static uint32_t dpuc_counter_id[DPUC_NB_COUNTERS + 1];
static bool dpuc_counter_got[DPUC_NB_COUNTERS + 1];
static uint32_t dpuc_meter_id[DPUC_NB_METERS + 1];
static bool dpuc_meter_got[DPUC_NB_METERS + 1];
static bool dpuc_ct_ready;
static uint16_t dpuc_ct_rss_queue;

#ifdef DPUC_CT_MANAGER
/* The connection manager's table (below the primitives), made and freed with CT. */
static doca_error_t dpuc_mgr_alloc(void);
static void dpuc_mgr_free(void);
#endif

static uint16_t dpuc_u16(const uint8_t *b)
{
	return (uint16_t)((uint16_t)b[0] << 8 | b[1]);
}

static uint32_t dpuc_u32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Writes big-endian bytes `b` into one member of a match or actions. */
static void dpuc_put(struct doca_flow_meta *meta,
		     struct doca_flow_parser_meta *pm,
		     struct doca_flow_header_format *o,
		     uint8_t field,
		     const uint8_t *b)
{
	int i;

	if (field >= DPUC_F_META_U32_0 && field <= DPUC_F_META_U32_9) {
		meta->u32[field - DPUC_F_META_U32_0] = DOCA_HTOBE32(dpuc_u32(b));
		return;
	}
	switch (field) {
	case DPUC_F_PORT_ID:
		pm->port_id = dpuc_u16(b);
		break;
	case DPUC_F_L3_META:
		pm->outer_l3_type = (enum doca_flow_l3_meta)(b[0] == 0xff ? UINT32_MAX : b[0]);
		break;
	case DPUC_F_L4_META:
		pm->outer_l4_type = (enum doca_flow_l4_meta)(b[0] == 0xff ? UINT32_MAX : b[0]);
		break;
	case DPUC_F_METER_COLOR:
		pm->meter_color = (enum doca_flow_meter_color)b[0];
		break;
	case DPUC_F_PKT_META:
		meta->pkt_meta = DOCA_HTOBE32(dpuc_u32(b));
		break;
	case DPUC_F_ETH_SRC:
		memcpy(o->eth.src_mac, b, 6);
		break;
	case DPUC_F_ETH_DST:
		memcpy(o->eth.dst_mac, b, 6);
		break;
	case DPUC_F_ETH_TYPE:
		o->eth.type = DOCA_HTOBE16(dpuc_u16(b));
		break;
	case DPUC_F_L2_VALID:
		o->l2_valid_headers = dpuc_u16(b);
		break;
	case DPUC_F_VLAN_TCI:
		o->eth_vlan[0].tci = DOCA_HTOBE16(dpuc_u16(b));
		break;
	case DPUC_F_IP4_SRC:
		o->ip4.src_ip = DOCA_HTOBE32(dpuc_u32(b));
		break;
	case DPUC_F_IP4_DST:
		o->ip4.dst_ip = DOCA_HTOBE32(dpuc_u32(b));
		break;
	case DPUC_F_IP4_PROTO:
		o->ip4.next_proto = b[0];
		break;
	case DPUC_F_IP4_DSCP_ECN:
		o->ip4.dscp_ecn = b[0];
		break;
	case DPUC_F_IP4_TTL:
		o->ip4.ttl = b[0];
		break;
	case DPUC_F_IP6_SRC:
		for (i = 0; i < 4; i++)
			o->ip6.src_ip[i] = DOCA_HTOBE32(dpuc_u32(b + 4 * i));
		break;
	case DPUC_F_IP6_DST:
		for (i = 0; i < 4; i++)
			o->ip6.dst_ip[i] = DOCA_HTOBE32(dpuc_u32(b + 4 * i));
		break;
	case DPUC_F_IP6_PROTO:
		o->ip6.next_proto = b[0];
		break;
	case DPUC_F_IP6_TC:
		o->ip6.traffic_class = b[0];
		break;
	case DPUC_F_IP6_HOP:
		o->ip6.hop_limit = b[0];
		break;
	case DPUC_F_TCP_SRC:
		o->tcp.l4_port.src_port = DOCA_HTOBE16(dpuc_u16(b));
		break;
	case DPUC_F_TCP_DST:
		o->tcp.l4_port.dst_port = DOCA_HTOBE16(dpuc_u16(b));
		break;
	case DPUC_F_TCP_FLAGS:
		o->tcp.flags = b[0];
		break;
	case DPUC_F_UDP_SRC:
		o->udp.l4_port.src_port = DOCA_HTOBE16(dpuc_u16(b));
		break;
	case DPUC_F_UDP_DST:
		o->udp.l4_port.dst_port = DOCA_HTOBE16(dpuc_u16(b));
		break;
	case DPUC_F_ICMP_TYPE:
		o->icmp.type = b[0];
		break;
	case DPUC_F_ICMP_CODE:
		o->icmp.code = b[0];
		break;
	case DPUC_F_ICMP_IDENT:
		o->icmp.ident = DOCA_HTOBE16(dpuc_u16(b));
		break;
	default:
		break;
	}
}

/* The variant's L3/L4 selectors (outer.l3_type, outer.l4_type_ext). */
static void dpuc_select(struct doca_flow_match *m, const struct dpuc_pipe_desc *d)
{
	if (d->l3 == DPUC_L3_IP4)
		m->outer.l3_type = DOCA_FLOW_L3_TYPE_IP4;
	else if (d->l3 == DPUC_L3_IP6)
		m->outer.l3_type = DOCA_FLOW_L3_TYPE_IP6;
	if (d->l4 == DPUC_L4_TCP)
		m->outer.l4_type_ext = DOCA_FLOW_L4_TYPE_EXT_TCP;
	else if (d->l4 == DPUC_L4_UDP)
		m->outer.l4_type_ext = DOCA_FLOW_L4_TYPE_EXT_UDP;
	else if (d->l4 == DPUC_L4_ICMP)
		m->outer.l4_type_ext =
			d->l3 == DPUC_L3_IP6 ? DOCA_FLOW_L4_TYPE_EXT_ICMP6 : DOCA_FLOW_L4_TYPE_EXT_ICMP;
}

static void dpuc_fwd(struct doca_flow_fwd *f, uint32_t idx)
{
	const struct dpuc_fwd_desc *d = &dpuc_fwd_tab[idx];

	memset(f, 0, sizeof(*f));
	switch (d->kind) {
	case DPUC_FWD_PORT:
		f->type = DOCA_FLOW_FWD_PORT;
		f->port_id = d->port;
		break;
	case DPUC_FWD_PIPE:
		f->type = DOCA_FLOW_FWD_PIPE;
		f->next_pipe = dpuc_pipe[d->pipe];
		break;
	case DPUC_FWD_KERNEL:
		f->type = DOCA_FLOW_FWD_TARGET;
		f->target = dpuc_kernel;
		break;
	case DPUC_FWD_SOFTWARE:
		/* To the connection manager; the entry wrote the class into pkt_meta. */
		f->type = DOCA_FLOW_FWD_RSS;
		f->rss_type = DOCA_FLOW_RESOURCE_TYPE_NON_SHARED;
		f->rss.outer_flags = DOCA_FLOW_RSS_IPV4 | DOCA_FLOW_RSS_IPV6;
		f->rss.queues_array = &dpuc_ct_rss_queue;
		f->rss.nr_queues = 1;
		break;
	default:
		f->type = DOCA_FLOW_FWD_DROP;
		break;
	}
}

static doca_error_t dpuc_create_pipe(uint32_t pi)
{
	const struct dpuc_pipe_desc *d = &dpuc_pipe_tab[pi];
	struct doca_flow_pipe_cfg *cfg;
	struct doca_flow_match match;
	struct doca_flow_actions act, act_mask;
	struct doca_flow_actions *acts[1] = {&act};
	struct doca_flow_actions *masks[1] = {&act_mask};
	struct doca_flow_monitor mon;
	struct doca_flow_fwd fwd, miss;
	bool control = d->type == DOCA_FLOW_PIPE_CONTROL;
	uint32_t nr_entries = d->entry_count > 0 ? d->entry_count : 1;
	doca_error_t rc, rc2;
	uint32_t i;

	memset(&match, 0, sizeof(match));
	memset(&act, 0, sizeof(act));
	memset(&act_mask, 0, sizeof(act_mask));
	memset(&mon, 0, sizeof(mon));
	memset(&fwd, 0, sizeof(fwd));
	memset(&miss, 0, sizeof(miss));

	rc = doca_flow_pipe_cfg_create(&cfg, dpuc_port);
	if (rc != DOCA_SUCCESS)
		return rc;
	rc = doca_flow_pipe_cfg_set_name(cfg, d->name);
	if (rc != DOCA_SUCCESS)
		goto out;
	rc = doca_flow_pipe_cfg_set_type(cfg, d->type);
	if (rc != DOCA_SUCCESS)
		goto out;
	rc = doca_flow_pipe_cfg_set_is_root(cfg, d->is_root);
	if (rc != DOCA_SUCCESS)
		goto out;
	/* Echo pipes hold two entries per connection; the CT pipe is sized by dpuc_ct_init. */
	if (d->table == DPUC_TABLE_ECHO)
		nr_entries = dpuc_ct.max_entries > UINT32_MAX / 2 ? UINT32_MAX : 2 * (dpuc_ct.max_entries > 0 ? dpuc_ct.max_entries : 1);
	if (d->table != DPUC_TABLE_CT) {
		rc = doca_flow_pipe_cfg_set_nr_entries(cfg, nr_entries);
		if (rc != DOCA_SUCCESS)
			goto out;
	}
	if (!control) {
		/* All-ones marks a field as changeable per entry. */
		dpuc_select(&match, d);
		for (i = 0; i < d->match_count; i++)
			dpuc_put(&match.meta, &match.parser_meta, &match.outer,
				 dpuc_match_fields[d->match_first + i], dpuc_ones);
		rc = doca_flow_pipe_cfg_set_match(cfg, &match, NULL);
		if (rc != DOCA_SUCCESS)
			goto out;
		if (d->write_count > 0) {
			for (i = 0; i < d->write_count; i++) {
				const struct dpuc_kv *w = &dpuc_kvs[d->write_first + i];

				dpuc_put(&act.meta, &act.parser_meta, &act.outer, w->field, dpuc_ones);
				dpuc_put(&act_mask.meta, &act_mask.parser_meta, &act_mask.outer, w->field, w->mask);
			}
			rc = doca_flow_pipe_cfg_set_actions(cfg, acts, masks, NULL, 1);
			if (rc != DOCA_SUCCESS)
				goto out;
		}
	}
	if (d->monitor != 0) {
		if (d->monitor & DPUC_MON_ENTRY_COUNTER)
			mon.counter_type = DOCA_FLOW_RESOURCE_TYPE_NON_SHARED;
		if (d->monitor & DPUC_MON_SHARED_COUNTER) {
			mon.counter_type = DOCA_FLOW_RESOURCE_TYPE_SHARED;
			mon.shared_counter.shared_counter_id = UINT32_MAX;
		}
		if (d->monitor & DPUC_MON_SHARED_METER) {
			mon.meter_type = DOCA_FLOW_RESOURCE_TYPE_SHARED;
			mon.shared_meter.shared_meter_id = UINT32_MAX;
		}
		if (d->monitor & DPUC_MON_AGING)
			mon.aging_sec = d->aging_sec;
		rc = doca_flow_pipe_cfg_set_monitor(cfg, &mon);
		if (rc != DOCA_SUCCESS)
			goto out;
	}
	/* Entries added at run time take the pipe's own forwarding. */
	if (d->fwd >= 0)
		dpuc_fwd(&fwd, (uint32_t)d->fwd);
	else
		fwd.type = DOCA_FLOW_FWD_CHANGEABLE;
	if (d->fwd_miss >= 0)
		dpuc_fwd(&miss, (uint32_t)d->fwd_miss);
	rc = doca_flow_pipe_create(cfg, control ? NULL : &fwd, d->fwd_miss >= 0 ? &miss : NULL, &dpuc_pipe[pi]);
out:
	rc2 = doca_flow_pipe_cfg_destroy(cfg);
	if (rc == DOCA_SUCCESS)
		rc = rc2;
	return rc;
}

static doca_error_t dpuc_add_entry(uint32_t pi, uint32_t ei)
{
	const struct dpuc_pipe_desc *d = &dpuc_pipe_tab[pi];
	const struct dpuc_entry_desc *e = &dpuc_entry_tab[ei];
	struct doca_flow_match match, mask;
	struct doca_flow_actions act, act_mask;
	struct doca_flow_monitor mon;
	struct doca_flow_fwd fwd;
	const struct doca_flow_actions *actp = NULL;
	const struct doca_flow_monitor *monp = NULL;
	uint32_t flags = DOCA_FLOW_ENTRY_FLAGS_NO_WAIT;
	uint32_t i;

	memset(&match, 0, sizeof(match));
	memset(&mask, 0, sizeof(mask));
	memset(&act, 0, sizeof(act));
	memset(&act_mask, 0, sizeof(act_mask));
	memset(&mon, 0, sizeof(mon));
	dpuc_select(&match, d);
	/* Control entries match the L3/L4 type they need through the mask. */
	if (d->type == DOCA_FLOW_PIPE_CONTROL)
		dpuc_select(&mask, d);
	for (i = 0; i < e->match_count; i++) {
		const struct dpuc_kv *m = &dpuc_kvs[e->match_first + i];

		dpuc_put(&match.meta, &match.parser_meta, &match.outer, m->field, m->value);
		dpuc_put(&mask.meta, &mask.parser_meta, &mask.outer, m->field, m->mask);
	}
	for (i = 0; i < e->write_count; i++) {
		const struct dpuc_kv *w = &dpuc_kvs[e->write_first + i];

		dpuc_put(&act.meta, &act.parser_meta, &act.outer, w->field, w->value);
		dpuc_put(&act_mask.meta, &act_mask.parser_meta, &act_mask.outer, w->field, w->mask);
	}
	if (e->write_count > 0)
		actp = &act;
	if (e->counter >= 0) {
		mon.counter_type = DOCA_FLOW_RESOURCE_TYPE_SHARED;
		mon.shared_counter.shared_counter_id = dpuc_counter_id[e->counter];
		monp = &mon;
	}
	if (e->meter >= 0) {
		mon.meter_type = DOCA_FLOW_RESOURCE_TYPE_SHARED;
		mon.shared_meter.shared_meter_id = dpuc_meter_id[e->meter];
		monp = &mon;
	}
	dpuc_fwd(&fwd, e->fwd);
	switch (d->type) {
	case DOCA_FLOW_PIPE_BASIC:
		return doca_flow_pipe_basic_add_entry(DPUC_QUEUE, dpuc_pipe[pi], &match, 0, actp, monp, &fwd,
						      flags, NULL, &dpuc_entry[ei]);
	case DOCA_FLOW_PIPE_LPM:
		return doca_flow_pipe_lpm_add_entry(DPUC_QUEUE, dpuc_pipe[pi], &match, &mask, 0, actp, monp, &fwd,
						    flags, NULL, &dpuc_entry[ei]);
	case DOCA_FLOW_PIPE_ACL:
		return doca_flow_pipe_acl_add_entry(DPUC_QUEUE, dpuc_pipe[pi], &match, &mask, 0, actp, e->priority,
						    &fwd, flags, NULL, &dpuc_entry[ei]);
	case DOCA_FLOW_PIPE_CONTROL:
		return doca_flow_pipe_control_add_entry(DPUC_QUEUE, dpuc_pipe[pi], &match, &mask, NULL, actp,
							e->write_count > 0 ? &act_mask : NULL, NULL, monp,
							e->priority, &fwd, NULL, &dpuc_entry[ei]);
	default:
		return DOCA_ERROR_NOT_SUPPORTED;
	}
}

/* Pushes queued entries to hardware and checks entries [first, end). */
static doca_error_t dpuc_process(uint32_t first, uint32_t end)
{
	doca_error_t rc;
	uint32_t tries, i;
	bool pending = true;

	for (tries = 0; pending && tries < DPUC_PROCESS_TRIES; tries++) {
		rc = doca_flow_entries_process(dpuc_port, DPUC_QUEUE, DPUC_PROCESS_TIMEOUT_US, 0);
		if (rc != DOCA_SUCCESS)
			return rc;
		pending = false;
		for (i = first; i < end; i++) {
			enum doca_flow_entry_status s = doca_flow_pipe_entry_get_status(dpuc_entry[i]);

			if (s == DOCA_FLOW_ENTRY_STATUS_ERROR)
				return DOCA_ERROR_BAD_STATE;
			if (s == DOCA_FLOW_ENTRY_STATUS_IN_PROCESS)
				pending = true;
		}
	}
	return pending ? DOCA_ERROR_TIME_OUT : DOCA_SUCCESS;
}

static void dpuc_unwind(void)
{
	uint32_t i;

	while (dpuc_nb_created > 0) {
		dpuc_nb_created--;
		doca_flow_pipe_destroy(dpuc_pipe[dpuc_nb_created]);
		dpuc_pipe[dpuc_nb_created] = NULL;
	}
	memset(dpuc_entry, 0, sizeof(dpuc_entry));
	for (i = 0; i < dpuc_nb_meters; i++) {
		if (dpuc_meter_got[i])
			(void)doca_flow_port_shared_resource_put(dpuc_port, DOCA_FLOW_SHARED_RESOURCE_METER,
								 dpuc_meter_id[i]);
		dpuc_meter_got[i] = false;
	}
	for (i = 0; i < dpuc_nb_counters; i++) {
		if (dpuc_counter_got[i])
			(void)doca_flow_port_shared_resource_put(dpuc_port, DOCA_FLOW_SHARED_RESOURCE_COUNTER,
								 dpuc_counter_id[i]);
		dpuc_counter_got[i] = false;
	}
	dpuc_port = NULL;
	dpuc_kernel = NULL;
}

static doca_error_t dpuc_install_all(void)
{
	struct doca_flow_shared_resource_cfg cfg;
	doca_error_t rc;
	uint32_t i, j, batch_start;

	if (dpuc_ct.enabled && !dpuc_ct_ready)
		return DOCA_ERROR_BAD_STATE;
	if (dpuc_needs_kernel) {
		rc = doca_flow_get_target(DOCA_FLOW_TARGET_KERNEL, &dpuc_kernel);
		if (rc != DOCA_SUCCESS)
			return rc;
	}
	for (i = 0; i < dpuc_nb_counters; i++) {
		rc = doca_flow_port_shared_resource_get(dpuc_port, DOCA_FLOW_SHARED_RESOURCE_COUNTER,
							&dpuc_counter_id[i]);
		if (rc != DOCA_SUCCESS)
			return rc;
		dpuc_counter_got[i] = true;
		memset(&cfg, 0, sizeof(cfg));
		rc = doca_flow_port_shared_resource_set_cfg(dpuc_port, DOCA_FLOW_SHARED_RESOURCE_COUNTER,
							    dpuc_counter_id[i], &cfg);
		if (rc != DOCA_SUCCESS)
			return rc;
	}
	for (i = 0; i < dpuc_nb_meters; i++) {
		const struct dpuc_meter_desc *m = &dpuc_meter_tab[i];

		rc = doca_flow_port_shared_resource_get(dpuc_port, DOCA_FLOW_SHARED_RESOURCE_METER,
							&dpuc_meter_id[i]);
		if (rc != DOCA_SUCCESS)
			return rc;
		dpuc_meter_got[i] = true;
		memset(&cfg, 0, sizeof(cfg));
		cfg.meter_cfg.limit_type = m->limit_type;
		cfg.meter_cfg.color_mode = DOCA_FLOW_METER_COLOR_MODE_BLIND;
		cfg.meter_cfg.alg = m->alg;
		cfg.meter_cfg.cir = m->cir;
		cfg.meter_cfg.cbs = m->cbs;
		if (m->alg == DOCA_FLOW_METER_ALGORITHM_TYPE_RFC2698) {
			cfg.meter_cfg.rfc2698.pir = m->pir;
			cfg.meter_cfg.rfc2698.pbs = m->pbs;
		} else {
			cfg.meter_cfg.rfc2697.ebs = m->ebs;
		}
		rc = doca_flow_port_shared_resource_set_cfg(dpuc_port, DOCA_FLOW_SHARED_RESOURCE_METER,
							    dpuc_meter_id[i], &cfg);
		if (rc != DOCA_SUCCESS)
			return rc;
	}
	/* Targets come first in the table, so every next_pipe exists. */
	for (i = 0; i < dpuc_nb_pipes; i++) {
		const struct dpuc_pipe_desc *d = &dpuc_pipe_tab[i];

		rc = dpuc_create_pipe(i);
		if (rc != DOCA_SUCCESS)
			return rc;
		dpuc_nb_created = i + 1;
		batch_start = d->entry_first;
		for (j = d->entry_first; j < d->entry_first + d->entry_count; j++) {
			rc = dpuc_add_entry(i, j);
			if (rc != DOCA_SUCCESS)
				return rc;
			if (j + 1 - batch_start == DPUC_BATCH) {
				rc = dpuc_process(batch_start, j + 1);
				if (rc != DOCA_SUCCESS)
					return rc;
				batch_start = j + 1;
			}
		}
		rc = dpuc_process(batch_start, d->entry_first + d->entry_count);
		if (rc != DOCA_SUCCESS)
			return rc;
	}
	return DOCA_SUCCESS;
}

doca_error_t dpuc_install(struct doca_flow_port *ports[], int nb_ports)
{
	doca_error_t rc;
	uint32_t i;

	if (dpuc_port != NULL)
		return DOCA_ERROR_BAD_STATE;
	if (ports == NULL || nb_ports < 1 || ports[0] == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	for (i = 0; i < dpuc_nb_port_ids; i++) {
		if (dpuc_port_ids[i] >= (uint32_t)nb_ports || ports[dpuc_port_ids[i]] == NULL)
			return DOCA_ERROR_INVALID_VALUE;
	}
	dpuc_port = ports[0];
	rc = dpuc_install_all();
	if (rc != DOCA_SUCCESS)
		dpuc_unwind();
	return rc;
}

void dpuc_uninstall(void)
{
	if (dpuc_port != NULL)
		dpuc_unwind();
}

doca_error_t dpuc_query_counter(uint32_t id, uint64_t *packets, uint64_t *bytes)
{
	struct doca_flow_resource_query q;
	doca_error_t rc;
	uint32_t i;

	if (packets == NULL || bytes == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	if (dpuc_port == NULL)
		return DOCA_ERROR_BAD_STATE;
	*packets = 0;
	*bytes = 0;
	if (id < dpuc_nb_counters) {
		uint32_t sid = dpuc_counter_id[id];

		memset(&q, 0, sizeof(q));
		rc = doca_flow_port_shared_resources_query(dpuc_port, DOCA_FLOW_SHARED_RESOURCE_COUNTER, &sid, &q, 1);
		if (rc != DOCA_SUCCESS)
			return rc;
		*packets = q.counter.total_pkts;
		*bytes = q.counter.total_bytes;
		return DOCA_SUCCESS;
	}
	id -= dpuc_nb_counters;
	if (id >= dpuc_nb_rules)
		return DOCA_ERROR_INVALID_VALUE;
	for (i = dpuc_rule_off[id]; i < dpuc_rule_off[id + 1]; i++) {
		memset(&q, 0, sizeof(q));
		rc = doca_flow_resource_query_entry(dpuc_entry[dpuc_rule_entries[i]], &q);
		if (rc != DOCA_SUCCESS)
			return rc;
		*packets += q.counter.total_pkts;
		*bytes += q.counter.total_bytes;
	}
	return DOCA_SUCCESS;
}

/* ---- connection tracking: DOCA Flow CT and the manager's primitives ---- */

doca_error_t dpuc_ct_init(uint32_t nb_queues, uint32_t nb_ctrl_queues, uint16_t rss_queue)
{
	struct doca_flow_ct_cfg *cfg;
	struct doca_flow_meta zone_mask;
	struct doca_flow_ct_meta modify_mask;
	doca_error_t rc, rc2;
	uint32_t n = dpuc_ct.max_entries > 0 ? dpuc_ct.max_entries : 1;
	int dir;

	if (!dpuc_ct.enabled)
		return DOCA_ERROR_NOT_SUPPORTED;
	if (dpuc_ct_ready)
		return DOCA_ERROR_BAD_STATE;
	memset(&zone_mask, 0, sizeof(zone_mask));
	memset(&modify_mask, 0, sizeof(modify_mask));
	if (dpuc_ct.zone_word >= 0)
		zone_mask.u32[dpuc_ct.zone_word] = UINT32_MAX;
	modify_mask.flow.u32[dpuc_ct.state_word] = DOCA_HTOBE32(DPUC_CT_HIT | DPUC_CT_REPLY | DPUC_CT_EST |
							      DPUC_CT_SYN_OK | DPUC_CT_TIME_WAIT | DPUC_CT_FAST);
	modify_mask.flow.u32[dpuc_ct.mark_word] = UINT32_MAX;
	rc = doca_flow_ct_cfg_create(&cfg);
	if (rc != DOCA_SUCCESS)
		return rc;
	rc = doca_flow_ct_cfg_set_queues(cfg, nb_queues);
	if (rc != DOCA_SUCCESS)
		goto out;
	rc = doca_flow_ct_cfg_set_ctrl_queues(cfg, nb_ctrl_queues);
	if (rc != DOCA_SUCCESS)
		goto out;
	/* Every connection carries one non-shared action (its metadata) per direction. */
	rc = doca_flow_ct_cfg_set_user_actions(cfg, n > UINT32_MAX / 2 ? UINT32_MAX : 2 * n);
	if (rc != DOCA_SUCCESS)
		goto out;
	/* The manager admits at most max_entries connections in all (echo ones too). */
	rc = doca_flow_ct_cfg_set_connections(cfg, n, n, n);
	if (rc != DOCA_SUCCESS)
		goto out;
	rc = doca_flow_ct_cfg_set_max_connections_per_zone(cfg, n);
	if (rc != DOCA_SUCCESS)
		goto out;
	for (dir = 0; dir < 2; dir++) {
		rc = doca_flow_ct_cfg_set_direction(cfg, dir == 1, false, &zone_mask, &modify_mask);
		if (rc != DOCA_SUCCESS)
			goto out;
	}
	rc = doca_flow_ct_init(cfg);
	if (rc == DOCA_SUCCESS) {
		dpuc_ct_ready = true;
		dpuc_ct_rss_queue = rss_queue;
	}
out:
	rc2 = doca_flow_ct_cfg_destroy(cfg);
	if (rc == DOCA_SUCCESS)
		rc = rc2;
#ifdef DPUC_CT_MANAGER
	if (rc == DOCA_SUCCESS)
		rc = dpuc_mgr_alloc();
#endif
	if (rc != DOCA_SUCCESS && dpuc_ct_ready) {
		doca_flow_ct_destroy();
		dpuc_ct_ready = false;
	}
	return rc;
}

void dpuc_ct_destroy(void)
{
	if (!dpuc_ct_ready)
		return;
	if (dpuc_port != NULL)
		dpuc_unwind();
	doca_flow_ct_destroy();
	dpuc_ct_ready = false;
#ifdef DPUC_CT_MANAGER
	dpuc_mgr_free();
#endif
}

const struct dpuc_ct_class_desc *dpuc_ct_class(uint32_t id)
{
	return id < dpuc_ct.nb_classes ? &dpuc_ct_classes[id] : NULL;
}

uint32_t dpuc_ct_timeout(enum dpuc_ct_timeout which)
{
	return (uint32_t)which < DPUC_CT_NB_TIMEOUTS ? dpuc_ct.timeout_s[which] : 0;
}

static void dpuc_be32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

/* The CT match of one direction of `k`. */
static void dpuc_ct_match(struct doca_flow_ct_match *m, const struct dpuc_ct_key *k, bool reply)
{
	const uint8_t *src = reply ? k->dst : k->src;
	const uint8_t *dst = reply ? k->src : k->dst;
	uint16_t sport = reply ? k->dport : k->sport;
	uint16_t dport = reply ? k->sport : k->dport;
	doca_be32_t zone = dpuc_ct.zone_word >= 0 ? DOCA_HTOBE32(k->zone) : 0;
	int i;

	memset(m, 0, sizeof(*m));
	if (k->ipv6) {
		for (i = 0; i < 4; i++) {
			m->ipv6.src_ip[i] = DOCA_HTOBE32(dpuc_u32(src + 4 * i));
			m->ipv6.dst_ip[i] = DOCA_HTOBE32(dpuc_u32(dst + 4 * i));
		}
		m->ipv6.l4_port.src_port = DOCA_HTOBE16(sport);
		m->ipv6.l4_port.dst_port = DOCA_HTOBE16(dport);
		m->ipv6.next_proto = k->proto;
		m->ipv6.metadata = zone;
	} else {
		m->ipv4.src_ip = DOCA_HTOBE32(dpuc_u32(src));
		m->ipv4.dst_ip = DOCA_HTOBE32(dpuc_u32(dst));
		m->ipv4.l4_port.src_port = DOCA_HTOBE16(sport);
		m->ipv4.l4_port.dst_port = DOCA_HTOBE16(dport);
		m->ipv4.next_proto = k->proto;
		m->ipv4.metadata = zone;
	}
}

/* The metadata one direction writes: its bits and the connection's mark. */
static void dpuc_ct_actions(struct doca_flow_ct_actions *a, uint32_t bits, uint32_t mark)
{
	memset(a, 0, sizeof(*a));
	a->resource_type = DOCA_FLOW_RESOURCE_TYPE_NON_SHARED;
	a->data.action_idx = 0;
	a->data.meta.flow.u32[dpuc_ct.state_word] = DOCA_HTOBE32(bits);
	a->data.meta.flow.u32[dpuc_ct.mark_word] = DOCA_HTOBE32(mark);
}

static uint32_t dpuc_ct_dir_flags(const struct dpuc_ct_conn *c)
{
	uint32_t flags = DOCA_FLOW_CT_ENTRY_FLAGS_NO_WAIT | DOCA_FLOW_CT_ENTRY_FLAGS_DIR_ORIGIN |
			 DOCA_FLOW_CT_ENTRY_FLAGS_DIR_REPLY;

	if (c->ipv6)
		flags |= DOCA_FLOW_CT_ENTRY_FLAGS_IPV6_ORIGIN | DOCA_FLOW_CT_ENTRY_FLAGS_IPV6_REPLY;
	return flags;
}

/* Waits for `n` entries' outcome on `queue`. */
static doca_error_t dpuc_echo_wait(uint16_t queue, struct doca_flow_pipe_entry *const *e, int n)
{
	doca_error_t rc;
	uint32_t tries;
	int i;
	bool pending = true;

	for (tries = 0; pending && tries < DPUC_PROCESS_TRIES; tries++) {
		rc = doca_flow_entries_process(dpuc_port, queue, DPUC_PROCESS_TIMEOUT_US, 0);
		if (rc != DOCA_SUCCESS)
			return rc;
		pending = false;
		for (i = 0; i < n; i++) {
			enum doca_flow_entry_status s = doca_flow_pipe_entry_get_status(e[i]);

			if (s == DOCA_FLOW_ENTRY_STATUS_ERROR)
				return DOCA_ERROR_BAD_STATE;
			if (s == DOCA_FLOW_ENTRY_STATUS_IN_PROCESS)
				pending = true;
		}
	}
	return pending ? DOCA_ERROR_TIME_OUT : DOCA_SUCCESS;
}

/* One direction of an ICMP echo connection in its BASIC pipe. */
static doca_error_t dpuc_echo_add_dir(uint16_t queue, const struct dpuc_ct_key *k, bool reply, uint32_t bits,
				      uint32_t mark, void *usr_ctx, struct doca_flow_pipe_entry **entry)
{
	const struct dpuc_pipe_desc *d = &dpuc_pipe_tab[dpuc_ct.echo_pipe[k->ipv6 ? 1 : 0]];
	struct doca_flow_match match;
	struct doca_flow_actions act;
	struct doca_flow_monitor mon;
	uint8_t b[4];
	uint16_t ident = reply ? k->dport : k->sport;

	memset(&match, 0, sizeof(match));
	memset(&act, 0, sizeof(act));
	memset(&mon, 0, sizeof(mon));
	dpuc_select(&match, d);
	if (dpuc_ct.zone_word >= 0) {
		dpuc_be32(b, k->zone);
		dpuc_put(&match.meta, &match.parser_meta, &match.outer,
			 (uint8_t)(DPUC_F_META_U32_0 + dpuc_ct.zone_word), b);
	}
	dpuc_put(&match.meta, &match.parser_meta, &match.outer, k->ipv6 ? DPUC_F_IP6_SRC : DPUC_F_IP4_SRC,
		 reply ? k->dst : k->src);
	dpuc_put(&match.meta, &match.parser_meta, &match.outer, k->ipv6 ? DPUC_F_IP6_DST : DPUC_F_IP4_DST,
		 reply ? k->src : k->dst);
	match.outer.icmp.ident = DOCA_HTOBE16(ident);
	act.meta.u32[dpuc_ct.state_word] = DOCA_HTOBE32(bits);
	act.meta.u32[dpuc_ct.mark_word] = DOCA_HTOBE32(mark);
	mon.aging_sec = dpuc_ct.timeout_s[DPUC_CT_ICMP];
	return doca_flow_pipe_basic_add_entry(queue, dpuc_pipe[dpuc_ct.echo_pipe[k->ipv6 ? 1 : 0]], &match, 0, &act,
					      &mon, NULL, DOCA_FLOW_ENTRY_FLAGS_NO_WAIT, usr_ctx, entry);
}

static doca_error_t dpuc_echo_add(uint16_t queue, const struct dpuc_ct_key *k, uint32_t bits_orig,
				  uint32_t bits_reply, uint32_t mark, void *usr_ctx, struct dpuc_ct_conn *c)
{
	doca_error_t rc;

	rc = dpuc_echo_add_dir(queue, k, false, bits_orig, mark, usr_ctx, &c->entry[0]);
	if (rc != DOCA_SUCCESS)
		return rc;
	rc = dpuc_echo_add_dir(queue, k, true, bits_reply, mark, usr_ctx, &c->entry[1]);
	if (rc == DOCA_SUCCESS)
		rc = dpuc_echo_wait(queue, c->entry, 2);
	else
		(void)dpuc_echo_wait(queue, c->entry, 1);
	if (rc != DOCA_SUCCESS) {
		(void)doca_flow_pipe_remove_entry(queue, DOCA_FLOW_ENTRY_FLAGS_NO_WAIT, c->entry[0]);
		c->entry[0] = NULL;
		c->entry[1] = NULL;
	}
	return rc;
}

/*
 * Adds a connection (both directions): the CT pipe for TCP and UDP, the echo
 * pipe of its family for ICMP echo. `bits_*` are the DPUC_CT_* bits of each
 * direction, `mark` its ct.mark, `timeout_s` its current timeout, `usr_ctx`
 * what DOCA hands the entry-process callback for its entries (the manager's
 * connection, so that it learns of aged ones).
 */
doca_error_t dpuc_ct_conn_add(uint16_t queue, const struct dpuc_ct_key *orig, uint32_t bits_orig,
			      uint32_t bits_reply, uint32_t mark, uint32_t timeout_s, void *usr_ctx,
			      struct dpuc_ct_conn *conn)
{
	struct doca_flow_pipe *pipe;
	struct doca_flow_ct_match mo, mr;
	struct doca_flow_ct_actions ao, ar;
	struct doca_flow_pipe_entry *entry = NULL;
	bool found = false;
	uint32_t prepare = DOCA_FLOW_CT_ENTRY_FLAGS_ALLOC_ON_MISS;
	doca_error_t rc;

	if (!dpuc_ct_ready || dpuc_port == NULL)
		return DOCA_ERROR_BAD_STATE;
	if (orig == NULL || conn == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	memset(conn, 0, sizeof(*conn));
	conn->ipv6 = orig->ipv6;
	if (orig->proto == 1 || orig->proto == 58) {
		conn->echo = true;
		return dpuc_echo_add(queue, orig, bits_orig, bits_reply, mark, usr_ctx, conn);
	}
	if (orig->proto != 6 && orig->proto != 17)
		return DOCA_ERROR_INVALID_VALUE;
	pipe = dpuc_pipe[dpuc_ct.pipe];
	dpuc_ct_match(&mo, orig, false);
	dpuc_ct_match(&mr, orig, true);
	dpuc_ct_actions(&ao, bits_orig, mark);
	dpuc_ct_actions(&ar, bits_reply, mark);
	if (orig->ipv6)
		prepare |= DOCA_FLOW_CT_ENTRY_FLAGS_IPV6_ORIGIN | DOCA_FLOW_CT_ENTRY_FLAGS_IPV6_REPLY;
	rc = doca_flow_ct_entry_prepare(queue, pipe, prepare, &mo, 0, &mr, 0, &entry, &found);
	if (rc != DOCA_SUCCESS)
		return rc;
	if (found)
		return DOCA_ERROR_BAD_STATE;
	rc = doca_flow_ct_add_entry(queue, pipe, dpuc_ct_dir_flags(conn), &mo, &mr, &ao, &ar, 0, 0, timeout_s,
				    usr_ctx, entry);
	if (rc != DOCA_SUCCESS) {
		(void)doca_flow_ct_entry_prepare_rollback(queue, pipe, entry);
		return rc;
	}
	rc = doca_flow_ct_entries_process(dpuc_port, queue, 0, 0, NULL);
	if (rc != DOCA_SUCCESS) {
		(void)doca_flow_ct_rm_entry(queue, pipe, DOCA_FLOW_CT_ENTRY_FLAGS_NO_WAIT, entry);
		return rc;
	}
	conn->entry[0] = entry;
	return DOCA_SUCCESS;
}

/*
 * New bits, mark or timeout for both directions of the connection of `orig`
 * (echo connections keep the icmp timeout and are re-added).
 */
doca_error_t dpuc_ct_conn_update(uint16_t queue, const struct dpuc_ct_key *orig, struct dpuc_ct_conn *conn,
				 uint32_t bits_orig, uint32_t bits_reply, uint32_t mark, uint32_t timeout_s,
				 void *usr_ctx)
{
	struct doca_flow_ct_actions ao, ar;
	doca_error_t rc;

	if (!dpuc_ct_ready || dpuc_port == NULL)
		return DOCA_ERROR_BAD_STATE;
	if (orig == NULL || conn == NULL || conn->entry[0] == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	if (conn->echo) {
		rc = dpuc_ct_conn_remove(queue, conn);
		if (rc != DOCA_SUCCESS)
			return rc;
		return dpuc_echo_add(queue, orig, bits_orig, bits_reply, mark, usr_ctx, conn);
	}
	dpuc_ct_actions(&ao, bits_orig, mark);
	dpuc_ct_actions(&ar, bits_reply, mark);
	rc = doca_flow_ct_update_entry(queue, dpuc_pipe[dpuc_ct.pipe], dpuc_ct_dir_flags(conn), conn->entry[0], &ao,
				       &ar, 0, 0, timeout_s);
	if (rc != DOCA_SUCCESS)
		return rc;
	return doca_flow_ct_entries_process(dpuc_port, queue, 0, 0, NULL);
}

/* Removes a connection (both directions). */
doca_error_t dpuc_ct_conn_remove(uint16_t queue, struct dpuc_ct_conn *conn)
{
	doca_error_t rc = DOCA_SUCCESS, rc2;
	int i;

	if (!dpuc_ct_ready || dpuc_port == NULL)
		return DOCA_ERROR_BAD_STATE;
	if (conn == NULL || conn->entry[0] == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	if (conn->echo) {
		for (i = 0; i < 2; i++) {
			if (conn->entry[i] == NULL)
				continue;
			rc2 = doca_flow_pipe_remove_entry(queue, DOCA_FLOW_ENTRY_FLAGS_NO_WAIT, conn->entry[i]);
			if (rc == DOCA_SUCCESS)
				rc = rc2;
			conn->entry[i] = NULL;
		}
		rc2 = doca_flow_entries_process(dpuc_port, queue, DPUC_PROCESS_TIMEOUT_US, 0);
		return rc == DOCA_SUCCESS ? rc2 : rc;
	}
	rc = doca_flow_ct_rm_entry(queue, dpuc_pipe[dpuc_ct.pipe], DOCA_FLOW_CT_ENTRY_FLAGS_NO_WAIT, conn->entry[0]);
	conn->entry[0] = NULL;
	if (rc != DOCA_SUCCESS)
		return rc;
	return doca_flow_ct_entries_process(dpuc_port, queue, 0, 0, NULL);
}
