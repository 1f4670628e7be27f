/*
 * planguard_stats: gives the planner the relation sizes of another
 * database (production) while it plans on a small one (CI).
 *
 * The planner does not take a table's size from pg_class as it is: it
 * scales reltuples by the file's real number of blocks
 * (table_block_relation_estimate_size() reads RelationGetNumberOfBlocks()),
 * so a 7-page CI table stays a 1,000-row table whatever pg_class says, and
 * imported statistics change no plan that depends on a table's size.
 * get_relation_info_hook runs after those estimates are made; with
 * planguard_stats.enabled on, this hook replaces the pages, tuples and
 * all-visible fraction of the table and of each of its indexes with:
 *
 *   - when planguard_stats.relations is set (a list of
 *     "oid:pages:tuples:allvisible" entries separated by commas: the
 *     per-session overrides planguard sets from a statistics file on
 *     PostgreSQL 13-17, where statistics cannot be imported), the entry
 *     for the relation; relations without one keep the planner's own
 *     estimates;
 *   - else pg_class's relpages, reltuples and relallvisible (as imported
 *     by pg_restore_relation_stats() on PostgreSQL 18+), when the
 *     relation has statistics (reltuples >= 0, or pages on PostgreSQL 13).
 *
 * Both settings are ordinary user settings: they live in the session
 * (or the transaction with SET LOCAL) that sets them, and the module has
 * no SQL objects, so loading it writes nothing to any catalog. It is
 * installed into $libdir/plugins too, where LOAD needs no superuser.
 */
#include "postgres.h"

#include <errno.h>
#include <stdlib.h>

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "fmgr.h"
#include "nodes/pathnodes.h"
#include "optimizer/plancat.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#if PG_VERSION_NUM >= 180000
PG_MODULE_MAGIC_EXT(.name = "planguard_stats", .version = "1.0");
#else
PG_MODULE_MAGIC;
#endif

void		_PG_init(void);

/* One relation's size, from planguard_stats.relations or pg_class. */
typedef struct RelSize
{
	Oid			relid;
	double		pages;
	double		tuples;
	double		allvisible;
} RelSize;

static bool enabled = false;
static char *relations_setting = NULL;

/* planguard_stats.relations as last parsed, and what it said. */
static char *parsed_text = NULL;
static RelSize *overrides = NULL;
static int	n_overrides = 0;

static get_relation_info_hook_type prev_get_relation_info_hook = NULL;

/*
 * Parses "oid:pages:tuples:allvisible[,...]" into out (allocated in
 * context), or only checks it when out is NULL. Returns false with a
 * message in *error on malformed text.
 */
static bool
parse_relations(const char *text, RelSize **out, int *count,
				MemoryContext context, const char **error)
{
	const char *p = text;
	int			capacity = 0;
	int			n = 0;
	RelSize    *sizes = NULL;

	if (out != NULL)
	{
		for (const char *c = text; *c; c++)
			capacity += (*c == ',');
		capacity += 1;
		sizes = MemoryContextAlloc(context, sizeof(RelSize) * capacity);
	}
	while (*p == ' ')
		p++;
	while (*p != '\0')
	{
		RelSize		size;
		char	   *end;
		unsigned long oid;

		errno = 0;
		oid = strtoul(p, &end, 10);
		if (end == p || *end != ':' || errno != 0 || oid == 0 || oid > PG_UINT32_MAX)
		{
			*error = "each entry is oid:pages:tuples:allvisible";
			return false;
		}
		size.relid = (Oid) oid;
		p = end + 1;
		size.pages = strtod(p, &end);
		if (end == p || *end != ':' || size.pages < 0)
		{
			*error = "pages must be a number of at least 0";
			return false;
		}
		p = end + 1;
		size.tuples = strtod(p, &end);
		if (end == p || *end != ':' || size.tuples < 0)
		{
			*error = "tuples must be a number of at least 0";
			return false;
		}
		p = end + 1;
		size.allvisible = strtod(p, &end);
		if (end == p || (*end != ',' && *end != '\0' && *end != ' ') || size.allvisible < 0)
		{
			*error = "allvisible must be a number of at least 0";
			return false;
		}
		p = end;
		while (*p == ' ')
			p++;
		if (*p == ',')
			p++;
		while (*p == ' ')
			p++;
		if (sizes != NULL)
			sizes[n] = size;
		n++;
	}
	if (out != NULL)
	{
		*out = sizes;
		*count = n;
	}
	return true;
}

static bool
check_relations(char **newval, void **extra, GucSource source)
{
	const char *error = NULL;

	if (*newval == NULL || parse_relations(*newval, NULL, NULL, NULL, &error))
		return true;
	GUC_check_errdetail("%s", error);
	return false;
}

/* Parses planguard_stats.relations again when it changed. */
static void
refresh_overrides(void)
{
	const char *text = relations_setting ? relations_setting : "";
	const char *error = NULL;

	if (parsed_text != NULL && strcmp(parsed_text, text) == 0)
		return;
	if (overrides != NULL)
		pfree(overrides);
	if (parsed_text != NULL)
		pfree(parsed_text);
	overrides = NULL;
	n_overrides = 0;
	parsed_text = MemoryContextStrdup(TopMemoryContext, text);
	/* The check hook accepted the text, so this cannot fail. */
	if (!parse_relations(text, &overrides, &n_overrides, TopMemoryContext, &error))
		n_overrides = 0;
}

/* The size to plan with for relid: from the overrides when there are
 * any, else from pg_class. */
static bool
lookup_size(Oid relid, RelSize *size)
{
	HeapTuple	tuple;
	Form_pg_class form;
	bool		found = false;

	if (n_overrides > 0)
	{
		for (int i = 0; i < n_overrides; i++)
		{
			if (overrides[i].relid == relid)
			{
				*size = overrides[i];
				return true;
			}
		}
		return false;
	}
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		return false;
	form = (Form_pg_class) GETSTRUCT(tuple);
	/*
	 * reltuples is -1 for a relation never vacuumed or analyzed (14+); on
	 * 13 it is 0 with relpages 0.
	 */
	if (form->reltuples >= 0 && !(form->reltuples == 0 && form->relpages == 0))
	{
		size->relid = relid;
		size->pages = form->relpages;
		size->tuples = form->reltuples;
		size->allvisible = form->relallvisible;
		found = true;
	}
	ReleaseSysCache(tuple);
	return found;
}

static void
planguard_get_relation_info(PlannerInfo *root, Oid relationObjectId,
							bool inhparent, RelOptInfo *rel)
{
	RelSize		size;
	ListCell   *lc;

	if (prev_get_relation_info_hook)
		prev_get_relation_info_hook(root, relationObjectId, inhparent, rel);
	/* An inheritance parent has no size of its own (plancat.c). */
	if (!enabled || inhparent)
		return;
	refresh_overrides();
	if (lookup_size(relationObjectId, &size))
	{
		rel->pages = (BlockNumber) Min(size.pages, (double) MaxBlockNumber);
		rel->tuples = size.tuples;
		rel->allvisfrac = size.pages > 0 ? Min(1.0, size.allvisible / size.pages) : 0;
	}
	foreach(lc, rel->indexlist)
	{
		IndexOptInfo *index = (IndexOptInfo *) lfirst(lc);
		bool		partial = index->indpred != NIL;

		if (lookup_size(index->indexoid, &size))
		{
			index->pages = (BlockNumber) Min(size.pages, (double) MaxBlockNumber);
			if (partial)
				index->tuples = Min(size.tuples, rel->tuples);
		}
		/* As plancat.c does: a full index has the table's tuples. */
		if (!partial)
			index->tuples = rel->tuples;
	}
}

void
_PG_init(void)
{
	DefineCustomBoolVariable("planguard_stats.enabled",
							 "Plan with the relation sizes of planguard_stats.relations when set, else of pg_class.",
							 NULL,
							 &enabled,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("planguard_stats.relations",
							   "Relation sizes to plan with: oid:pages:tuples:allvisible, separated by commas.",
							   NULL,
							   &relations_setting,
							   "",
							   PGC_USERSET,
							   0,
							   check_relations, NULL, NULL);
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("planguard_stats");
#else
	EmitWarningsOnPlaceholders("planguard_stats");
#endif
	prev_get_relation_info_hook = get_relation_info_hook;
	get_relation_info_hook = planguard_get_relation_info;
}
