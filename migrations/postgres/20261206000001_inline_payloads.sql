-- A delivery's deflated body is a few KB: past PostgreSQL's 2 KB toast threshold, so each one
-- was moved out of line to the TOAST table, an extra row and index entry per delivery in the
-- intake's transaction. Rows up to a page now stay inline; larger bodies still move out.
ALTER TABLE deliveries SET (toast_tuple_target = 8160);
