## write_schema(df, stem, note): df as <stem>.csv with <stem>.schema.json beside it (factor levels in
## order and treatment contrasts, as the Python side's read_csv_with_schema reads them). Sourced by the
## reference scripts of glmm_families/ and glmer_nb/.
write_schema <- function(df, stem, note) {
  cols <- lapply(df, function(v) if (is.factor(v)) list(type = "factor", levels = levels(v), contrasts = "contr.treatment")
                                 else list(type = "numeric"))
  write.csv(df, paste0(stem, ".csv"), row.names = FALSE)
  writeLines(jsonlite::toJSON(list(file = paste0(stem, ".csv"), nrow = nrow(df), columns = cols, note = note),
                              auto_unbox = TRUE, pretty = TRUE, digits = NA), paste0(stem, ".schema.json"))
}
