/*
 * Minimal declarations of the DOCA 3.3 Flow API used by dpuc's generated
 * NAME_doca.c, written from the public API reference so the generated C
 * can be syntax-checked without the DOCA SDK:
 *
 *   gcc -fsyntax-only -Wall -Wextra -Werror -DDOCA_ALLOW_EXPERIMENTAL_API \
 *       -include tests/doca/doca_flow_decls.h -I STUBDIR NAME_doca.c
 *
 * where STUBDIR holds doca_flow.h, doca_flow_ct.h and doca_bitfield.h that
 * only include this file. Only the members dpuc uses are declared; layouts
 * are not those of the SDK.
 */
#ifndef DPUC_DOCA_FLOW_DECLS_H
#define DPUC_DOCA_FLOW_DECLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* doca_error.h */
typedef enum doca_error {
	DOCA_SUCCESS = 0,
	DOCA_ERROR_NOT_SUPPORTED = 4,
	DOCA_ERROR_INVALID_VALUE = 6,
	DOCA_ERROR_NO_MEMORY = 7,
	DOCA_ERROR_TIME_OUT = 9,
	DOCA_ERROR_BAD_STATE = 18,
} doca_error_t;

/* doca_types.h / doca_bitfield.h */
typedef uint16_t doca_be16_t;
typedef uint32_t doca_be32_t;
#define DOCA_HTOBE16(x) ((doca_be16_t)__builtin_bswap16((uint16_t)(x)))
#define DOCA_HTOBE32(x) ((doca_be32_t)__builtin_bswap32((uint32_t)(x)))

/* doca_flow_net.h */
enum doca_flow_l3_type {
	DOCA_FLOW_L3_TYPE_NONE = 0,
	DOCA_FLOW_L3_TYPE_IP4,
	DOCA_FLOW_L3_TYPE_IP6,
};

enum doca_flow_l4_type_ext {
	DOCA_FLOW_L4_TYPE_EXT_NONE = 0,
	DOCA_FLOW_L4_TYPE_EXT_TCP,
	DOCA_FLOW_L4_TYPE_EXT_UDP,
	DOCA_FLOW_L4_TYPE_EXT_ICMP,
	DOCA_FLOW_L4_TYPE_EXT_ICMP6,
};

struct doca_flow_header_eth {
	uint8_t src_mac[6];
	uint8_t dst_mac[6];
	doca_be16_t type;
};

struct doca_flow_header_eth_vlan {
	doca_be16_t tci;
};

struct doca_flow_header_ip4 {
	doca_be32_t src_ip;
	doca_be32_t dst_ip;
	uint8_t dscp_ecn;
	uint8_t next_proto;
	uint8_t ttl;
};

struct doca_flow_header_ip6 {
	doca_be32_t src_ip[4];
	doca_be32_t dst_ip[4];
	uint8_t traffic_class;
	uint8_t next_proto;
	uint8_t hop_limit;
};

struct doca_flow_header_l4_port {
	doca_be16_t src_port;
	doca_be16_t dst_port;
};

struct doca_flow_header_tcp {
	struct doca_flow_header_l4_port l4_port;
	uint8_t flags;
};

struct doca_flow_header_udp {
	struct doca_flow_header_l4_port l4_port;
};

struct doca_flow_header_icmp {
	uint8_t type;
	uint8_t code;
	doca_be16_t ident;
};

/* doca_flow.h */
struct doca_flow_port;
struct doca_flow_pipe;
struct doca_flow_pipe_entry;
struct doca_flow_pipe_cfg;
struct doca_flow_target;
struct doca_flow_match_condition;
struct doca_flow_action_descs;

enum doca_flow_shared_resource_type {
	DOCA_FLOW_SHARED_RESOURCE_METER,
	DOCA_FLOW_SHARED_RESOURCE_COUNTER,
};

enum doca_flow_entry_flags {
	DOCA_FLOW_ENTRY_FLAGS_NO_WAIT = (1u << 0),
	DOCA_FLOW_ENTRY_FLAGS_WAIT_FOR_BATCH = (1u << 1),
};

enum doca_flow_entry_status {
	DOCA_FLOW_ENTRY_STATUS_IN_PROCESS,
	DOCA_FLOW_ENTRY_STATUS_SUCCESS,
	DOCA_FLOW_ENTRY_STATUS_ERROR,
};

enum doca_flow_entry_op {
	DOCA_FLOW_ENTRY_OP_ADD,
	DOCA_FLOW_ENTRY_OP_DEL,
	DOCA_FLOW_ENTRY_OP_UPD,
	DOCA_FLOW_ENTRY_OP_AGED,
};

enum doca_flow_pipe_type {
	DOCA_FLOW_PIPE_BASIC,
	DOCA_FLOW_PIPE_CONTROL,
	DOCA_FLOW_PIPE_LPM,
	DOCA_FLOW_PIPE_CT,
	DOCA_FLOW_PIPE_ACL,
};

#define DOCA_FLOW_META_SCRATCH_PAD_MAX 10

enum __attribute__((__packed__)) doca_flow_meter_color {
	DOCA_FLOW_METER_COLOR_RED = 0,
	DOCA_FLOW_METER_COLOR_YELLOW,
	DOCA_FLOW_METER_COLOR_GREEN,
};

enum doca_flow_l3_meta {
	DOCA_FLOW_L3_META_NONE = 0,
	DOCA_FLOW_L3_META_IPV4,
	DOCA_FLOW_L3_META_IPV6,
};

enum doca_flow_l4_meta {
	DOCA_FLOW_L4_META_NONE = 0,
	DOCA_FLOW_L4_META_TCP,
	DOCA_FLOW_L4_META_UDP,
	DOCA_FLOW_L4_META_ICMP,
	DOCA_FLOW_L4_META_ESP,
};

struct doca_flow_meta {
	doca_be32_t pkt_meta;
	doca_be32_t u32[DOCA_FLOW_META_SCRATCH_PAD_MAX];
};

struct doca_flow_parser_meta {
	uint16_t port_id;
	enum doca_flow_meter_color meter_color;
	enum doca_flow_l3_meta outer_l3_type;
	enum doca_flow_l4_meta outer_l4_type;
};

struct doca_flow_header_format {
	struct doca_flow_header_eth eth;
	uint16_t l2_valid_headers;
	struct doca_flow_header_eth_vlan eth_vlan[2];
	enum doca_flow_l3_type l3_type;
	union {
		struct doca_flow_header_ip4 ip4;
		struct doca_flow_header_ip6 ip6;
	};
	enum doca_flow_l4_type_ext l4_type_ext;
	union {
		struct doca_flow_header_icmp icmp;
		struct doca_flow_header_udp udp;
		struct doca_flow_header_tcp tcp;
		struct doca_flow_header_l4_port transport;
	};
};

struct doca_flow_match {
	struct doca_flow_meta meta;
	struct doca_flow_parser_meta parser_meta;
	struct doca_flow_header_format outer;
};

enum doca_flow_resource_type {
	DOCA_FLOW_RESOURCE_TYPE_NONE,
	DOCA_FLOW_RESOURCE_TYPE_SHARED,
	DOCA_FLOW_RESOURCE_TYPE_NON_SHARED,
};

struct doca_flow_actions {
	struct doca_flow_meta meta;
	struct doca_flow_parser_meta parser_meta;
	struct doca_flow_header_format outer;
};

enum doca_flow_target_type {
	DOCA_FLOW_TARGET_KERNEL,
};

enum doca_flow_fwd_type {
	DOCA_FLOW_FWD_NONE = 0,
	DOCA_FLOW_FWD_RSS,
	DOCA_FLOW_FWD_PORT,
	DOCA_FLOW_FWD_PIPE,
	DOCA_FLOW_FWD_DROP,
	DOCA_FLOW_FWD_TARGET,
	DOCA_FLOW_FWD_CHANGEABLE = 100,
};

enum doca_rss_type {
	DOCA_FLOW_RSS_IPV4 = (1 << 0),
	DOCA_FLOW_RSS_IPV6 = (1 << 1),
	DOCA_FLOW_RSS_UDP = (1 << 2),
	DOCA_FLOW_RSS_TCP = (1 << 3),
};

enum doca_flow_rss_hash_function {
	DOCA_FLOW_RSS_HASH_FUNCTION_TOEPLITZ,
	DOCA_FLOW_RSS_HASH_FUNCTION_SYMMETRIC_TOEPLITZ,
};

struct doca_flow_resource_rss_cfg {
	uint32_t outer_flags;
	uint32_t inner_flags;
	uint16_t *queues_array;
	int nr_queues;
	enum doca_flow_rss_hash_function rss_hash_func;
};

struct doca_flow_fwd {
	enum doca_flow_fwd_type type;
	union {
		struct {
			enum doca_flow_resource_type rss_type;
			union {
				struct doca_flow_resource_rss_cfg rss;
				uint32_t shared_rss_id;
			};
		};
		struct {
			uint16_t port_id;
		};
		struct {
			struct doca_flow_pipe *next_pipe;
		};
		struct {
			struct doca_flow_target *target;
		};
	};
};

enum doca_flow_meter_algorithm_type {
	DOCA_FLOW_METER_ALGORITHM_TYPE_RFC2697,
	DOCA_FLOW_METER_ALGORITHM_TYPE_RFC2698,
	DOCA_FLOW_METER_ALGORITHM_TYPE_RFC4115,
};

enum doca_flow_meter_limit_type {
	DOCA_FLOW_METER_LIMIT_TYPE_BYTES = 0,
	DOCA_FLOW_METER_LIMIT_TYPE_PACKETS,
};

enum doca_flow_meter_color_mode {
	DOCA_FLOW_METER_COLOR_MODE_BLIND = 0,
	DOCA_FLOW_METER_COLOR_MODE_AWARE,
};

struct doca_flow_resource_meter_cfg {
	enum doca_flow_meter_limit_type limit_type;
	enum doca_flow_meter_color_mode color_mode;
	enum doca_flow_meter_algorithm_type alg;
	uint64_t cir;
	uint64_t cbs;
	union {
		struct {
			uint64_t ebs;
		} rfc2697;
		struct {
			uint64_t pir;
			uint64_t pbs;
		} rfc2698;
	};
};

struct doca_flow_shared_resource_cfg {
	union {
		struct doca_flow_resource_meter_cfg meter_cfg;
	};
};

struct doca_flow_monitor {
	enum doca_flow_resource_type meter_type;
	union {
		struct {
			uint32_t shared_meter_id;
			enum doca_flow_meter_color meter_init_color;
		} shared_meter;
	};
	enum doca_flow_resource_type counter_type;
	union {
		struct {
			uint32_t shared_counter_id;
		} shared_counter;
	};
	uint32_t aging_sec;
};

struct doca_flow_resource_query {
	union {
		struct {
			uint64_t total_bytes;
			uint64_t total_pkts;
		} counter;
	};
};

doca_error_t doca_flow_pipe_cfg_create(struct doca_flow_pipe_cfg **cfg, struct doca_flow_port *port);
doca_error_t doca_flow_pipe_cfg_destroy(struct doca_flow_pipe_cfg *cfg);
doca_error_t doca_flow_pipe_cfg_set_name(struct doca_flow_pipe_cfg *cfg, const char *name);
doca_error_t doca_flow_pipe_cfg_set_type(struct doca_flow_pipe_cfg *cfg, enum doca_flow_pipe_type type);
doca_error_t doca_flow_pipe_cfg_set_is_root(struct doca_flow_pipe_cfg *cfg, bool is_root);
doca_error_t doca_flow_pipe_cfg_set_nr_entries(struct doca_flow_pipe_cfg *cfg, uint32_t nr_entries);
doca_error_t doca_flow_pipe_cfg_set_match(struct doca_flow_pipe_cfg *cfg,
					  const struct doca_flow_match *match,
					  const struct doca_flow_match *match_mask);
doca_error_t doca_flow_pipe_cfg_set_actions(struct doca_flow_pipe_cfg *cfg,
					    struct doca_flow_actions *const *actions,
					    struct doca_flow_actions *const *actions_masks,
					    struct doca_flow_action_descs *const *action_descs,
					    size_t nr_actions);
doca_error_t doca_flow_pipe_cfg_set_monitor(struct doca_flow_pipe_cfg *cfg, const struct doca_flow_monitor *monitor);
doca_error_t doca_flow_pipe_create(const struct doca_flow_pipe_cfg *cfg,
				   const struct doca_flow_fwd *fwd,
				   const struct doca_flow_fwd *fwd_miss,
				   struct doca_flow_pipe **pipe);
void doca_flow_pipe_destroy(struct doca_flow_pipe *pipe);
doca_error_t doca_flow_pipe_basic_add_entry(uint16_t pipe_queue,
					    struct doca_flow_pipe *pipe,
					    const struct doca_flow_match *match,
					    uint8_t action_idx,
					    const struct doca_flow_actions *actions,
					    const struct doca_flow_monitor *monitor,
					    const struct doca_flow_fwd *fwd,
					    uint32_t flags,
					    void *usr_ctx,
					    struct doca_flow_pipe_entry **entry);
doca_error_t doca_flow_pipe_control_add_entry(uint16_t pipe_queue,
					      struct doca_flow_pipe *pipe,
					      const struct doca_flow_match *match,
					      const struct doca_flow_match *match_mask,
					      const struct doca_flow_match_condition *condition,
					      const struct doca_flow_actions *actions,
					      const struct doca_flow_actions *actions_mask,
					      const struct doca_flow_action_descs *action_descs,
					      const struct doca_flow_monitor *monitor,
					      uint32_t priority,
					      const struct doca_flow_fwd *fwd,
					      void *usr_ctx,
					      struct doca_flow_pipe_entry **entry);
doca_error_t doca_flow_pipe_lpm_add_entry(uint16_t pipe_queue,
					  struct doca_flow_pipe *pipe,
					  const struct doca_flow_match *match,
					  const struct doca_flow_match *match_mask,
					  uint8_t action_idx,
					  const struct doca_flow_actions *actions,
					  const struct doca_flow_monitor *monitor,
					  const struct doca_flow_fwd *fwd,
					  uint32_t flags,
					  void *usr_ctx,
					  struct doca_flow_pipe_entry **entry);
doca_error_t doca_flow_pipe_acl_add_entry(uint16_t pipe_queue,
					  struct doca_flow_pipe *pipe,
					  const struct doca_flow_match *match,
					  const struct doca_flow_match *match_mask,
					  uint8_t action_idx,
					  const struct doca_flow_actions *actions,
					  const uint32_t priority,
					  const struct doca_flow_fwd *fwd,
					  uint32_t flags,
					  void *usr_ctx,
					  struct doca_flow_pipe_entry **entry);
doca_error_t doca_flow_entries_process(struct doca_flow_port *port,
				       uint16_t pipe_queue,
				       uint64_t timeout,
				       uint32_t max_processed_entries);
enum doca_flow_entry_status doca_flow_pipe_entry_get_status(struct doca_flow_pipe_entry *entry);
typedef void (*doca_flow_entry_process_cb)(struct doca_flow_pipe_entry *entry,
					   uint16_t pipe_queue,
					   enum doca_flow_entry_status status,
					   enum doca_flow_entry_op op,
					   void *user_ctx);
int doca_flow_aging_handle(struct doca_flow_port *port, uint16_t queue, uint64_t quota, uint64_t max_entries);
doca_error_t doca_flow_pipe_remove_entry(uint16_t pipe_queue, uint32_t flags, struct doca_flow_pipe_entry *entry);
doca_error_t doca_flow_resource_query_entry(struct doca_flow_pipe_entry *entry, struct doca_flow_resource_query *data);
doca_error_t doca_flow_get_target(enum doca_flow_target_type type, struct doca_flow_target **target);
doca_error_t doca_flow_port_shared_resource_set_cfg(struct doca_flow_port *port,
						    enum doca_flow_shared_resource_type type,
						    uint32_t shared_resource_id,
						    struct doca_flow_shared_resource_cfg *cfg);
doca_error_t doca_flow_port_shared_resource_get(struct doca_flow_port *port,
						enum doca_flow_shared_resource_type type,
						uint32_t *shared_resource_id);
doca_error_t doca_flow_port_shared_resource_put(struct doca_flow_port *port,
						enum doca_flow_shared_resource_type type,
						uint32_t shared_resource_id);
doca_error_t doca_flow_port_shared_resources_query(struct doca_flow_port *port,
						   enum doca_flow_shared_resource_type type,
						   uint32_t *res_array,
						   struct doca_flow_resource_query *data_array,
						   uint32_t array_len);

/* doca_flow_ct.h */
struct doca_flow_ct_cfg;

struct doca_flow_ct_meta {
	struct doca_flow_meta flow;
	doca_be32_t mark;
};

struct doca_flow_ct_actions {
	enum doca_flow_resource_type resource_type;
	union {
		uint32_t action_handle;
		struct {
			uint8_t action_idx;
			struct doca_flow_ct_meta meta;
			struct doca_flow_header_l4_port l4_port;
		} data;
	};
};

struct doca_flow_ct_match4 {
	struct doca_flow_header_l4_port l4_port;
	doca_be32_t src_ip;
	doca_be32_t dst_ip;
	doca_be32_t metadata;
	uint8_t next_proto;
};

struct doca_flow_ct_match6 {
	struct doca_flow_header_l4_port l4_port;
	doca_be32_t src_ip[4];
	doca_be32_t dst_ip[4];
	doca_be32_t metadata;
	uint8_t next_proto;
};

struct doca_flow_ct_match {
	union {
		struct doca_flow_ct_match4 ipv4;
		struct doca_flow_ct_match6 ipv6;
	};
};

enum doca_flow_ct_entry_flags {
	DOCA_FLOW_CT_ENTRY_FLAGS_NO_WAIT = (1 << 0),
	DOCA_FLOW_CT_ENTRY_FLAGS_DIR_ORIGIN = (1 << 1),
	DOCA_FLOW_CT_ENTRY_FLAGS_DIR_REPLY = (1 << 2),
	DOCA_FLOW_CT_ENTRY_FLAGS_IPV6_ORIGIN = (1 << 3),
	DOCA_FLOW_CT_ENTRY_FLAGS_IPV6_REPLY = (1 << 4),
	DOCA_FLOW_CT_ENTRY_FLAGS_ALLOC_ON_MISS = (1 << 9),
};

doca_error_t doca_flow_ct_cfg_create(struct doca_flow_ct_cfg **cfg);
doca_error_t doca_flow_ct_cfg_destroy(struct doca_flow_ct_cfg *cfg);
doca_error_t doca_flow_ct_cfg_set_queues(struct doca_flow_ct_cfg *cfg, uint32_t n_queues);
doca_error_t doca_flow_ct_cfg_set_ctrl_queues(struct doca_flow_ct_cfg *cfg, uint32_t n_ctrl_queues);
doca_error_t doca_flow_ct_cfg_set_user_actions(struct doca_flow_ct_cfg *cfg, uint32_t n_user_actions);
doca_error_t doca_flow_ct_cfg_set_connections(struct doca_flow_ct_cfg *cfg,
					      uint32_t n_ipv4,
					      uint32_t n_ipv6,
					      uint32_t n_total);
doca_error_t doca_flow_ct_cfg_set_max_connections_per_zone(struct doca_flow_ct_cfg *cfg,
							   uint32_t max_connections_per_zone);
doca_error_t doca_flow_ct_cfg_set_direction(struct doca_flow_ct_cfg *cfg,
					    bool direction,
					    bool match_inner,
					    struct doca_flow_meta *zone_match_mask,
					    struct doca_flow_ct_meta *meta_modify_mask);
doca_error_t doca_flow_ct_init(const struct doca_flow_ct_cfg *cfg);
void doca_flow_ct_destroy(void);
doca_error_t doca_flow_ct_entries_process(struct doca_flow_port *port,
					  uint16_t pipe_queue,
					  uint32_t min_room,
					  uint32_t max_processed_entries,
					  uint32_t *queue_room);
doca_error_t doca_flow_ct_entry_prepare(uint16_t queue,
					struct doca_flow_pipe *pipe,
					uint32_t flags,
					struct doca_flow_ct_match *match_origin,
					uint32_t hash_origin,
					struct doca_flow_ct_match *match_reply,
					uint32_t hash_reply,
					struct doca_flow_pipe_entry **entry,
					bool *conn_found);
doca_error_t doca_flow_ct_entry_prepare_rollback(uint16_t queue,
						 struct doca_flow_pipe *pipe,
						 struct doca_flow_pipe_entry *entry);
doca_error_t doca_flow_ct_add_entry(uint16_t queue,
				    struct doca_flow_pipe *pipe,
				    uint32_t flags,
				    struct doca_flow_ct_match *match_origin,
				    struct doca_flow_ct_match *match_reply,
				    const struct doca_flow_ct_actions *actions_origin,
				    const struct doca_flow_ct_actions *actions_reply,
				    uint32_t fwd_handle_origin,
				    uint32_t fwd_handle_reply,
				    uint32_t timeout_s,
				    void *usr_ctx,
				    struct doca_flow_pipe_entry *entry);
doca_error_t doca_flow_ct_update_entry(uint16_t queue,
				       struct doca_flow_pipe *pipe,
				       uint32_t flags,
				       struct doca_flow_pipe_entry *entry,
				       const struct doca_flow_ct_actions *actions_origin,
				       const struct doca_flow_ct_actions *actions_reply,
				       uint32_t fwd_handle_origin,
				       uint32_t fwd_handle_reply,
				       uint32_t timeout_s);
doca_error_t doca_flow_ct_rm_entry(uint16_t queue,
				   struct doca_flow_pipe *pipe,
				   uint32_t flags,
				   struct doca_flow_pipe_entry *entry);

#endif /* DPUC_DOCA_FLOW_DECLS_H */
