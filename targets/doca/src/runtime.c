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
	rc = doca_flow_pipe_cfg_set_nr_entries(cfg, d->entry_count > 0 ? d->entry_count : 1);
	if (rc != DOCA_SUCCESS)
		goto out;
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
		rc = doca_flow_pipe_cfg_set_monitor(cfg, &mon);
		if (rc != DOCA_SUCCESS)
			goto out;
	}
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
	if (d->type != DOCA_FLOW_PIPE_CONTROL)
		dpuc_select(&match, d);
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
