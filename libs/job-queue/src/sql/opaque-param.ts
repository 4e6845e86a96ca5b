/**
 * A bind parameter the planner cannot read: `(SELECT $n::type)`, an InitPlan evaluated once per execution.
 *
 * PostgreSQL plans the first five executions of a named statement with the values bound (custom plans), then keeps
 * planning each execution anew for as long as the custom plans are estimated cheaper than the generic plan. A
 * statement whose custom plan profits from its values (a constant array's length instead of 10 rows, a null that
 * prunes a branch, a known LIMIT) is then planned on every execution, and a large statement's planning can cost
 * more than running it: the claim's walk spent about 1 ms of the server's CPU planning for 0.1 ms of execution on
 * an idle table. With every parameter behind an InitPlan the custom plan is the generic plan, whose cost is then
 * below the custom plans' average (which adds a charge for planning): from the sixth execution on a connection,
 * PostgreSQL reuses it and plans no more. Only for statements whose generic plan is the one wanted (the claim's is
 * proven in docs/claim-explain.md and test/claim-plan.test.ts).
 */
export const opaqueParam = (param: string, type: string): string => `(SELECT ${param}::${type})`;
