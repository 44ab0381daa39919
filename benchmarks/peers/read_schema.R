# read_with_schema(csv, schema_path): the benchmark CSV as a data.frame, factor columns made factors
# with the schema's level order (as the Python side reads it). Sourced by bench_lme4.R and bench_postfit.R.
read_with_schema <- function(csv, schema_path) {
  schema <- jsonlite::fromJSON(schema_path, simplifyVector = FALSE)$columns
  col_classes <- vapply(schema, function(s) if (s$type %in% c("factor", "ordered")) "character" else "numeric", "")
  dat <- read.csv(csv, colClasses = col_classes, na.strings = "")
  for (nm in names(schema)) {
    s <- schema[[nm]]
    if (s$type %in% c("factor", "ordered")) {
      dat[[nm]] <- factor(dat[[nm]], levels = unlist(s$levels), ordered = s$type == "ordered")
    }
  }
  dat
}
