/*
 * svgplot.c - draws the benchmark plots as SVG line charts, with nothing but libc.
 *
 * The chapter's plots must be remade by anyone who reruns the benchmarks, on a machine
 * that may have no plotting package, so the plotter is one small C program. It reads
 * points from standard input, one per line, three fields separated by tabs:
 *
 *     series name <TAB> x <TAB> y
 *
 * and writes one SVG document to standard output: a line per series, in the order the
 * series first appear, with a marker at every point, both axes labelled, and a legend.
 * Benchmark numbers span decades (a thousand keys to a million, ten thousand requests per
 * second to millions), so either axis can be logarithmic. With --categories the x fields
 * are labels instead of numbers ("p50", "p99", ...), spaced evenly in order of appearance.
 *
 *     svgplot --title T --xlabel X --ylabel Y [--logx] [--logy] [--categories]
 *             [--note TEXT] < points.tsv > plot.svg
 *
 * bench/plots.sh turns the CSV files of bench/run.sh into such points.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 12
#define MAX_POINTS 256 /* per series */
#define MAX_CATEGORIES 32
#define MAX_NAME 64
#define MAX_LINE 512

/* The canvas: the plot area sits inside these margins, the legend in the right one. */
#define WIDTH 820
#define HEIGHT 460
#define MARGIN_LEFT 84
#define MARGIN_RIGHT 230
#define MARGIN_TOP 44
#define MARGIN_BOTTOM 76
#define PLOT_W (WIDTH - MARGIN_LEFT - MARGIN_RIGHT)
#define PLOT_H (HEIGHT - MARGIN_TOP - MARGIN_BOTTOM)

/* Colours that stay apart for most colour-blind readers (Okabe and Ito), then greys. */
static const char *const colours[MAX_SERIES] = {
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9",
    "#000000", "#f0e442", "#777777", "#332288", "#882255", "#117733",
};

struct series {
    char name[MAX_NAME];
    double x[MAX_POINTS], y[MAX_POINTS];
    int count;
};

struct options {
    const char *title, *xlabel, *ylabel, *note;
    int logx, logy, categories;
};

struct plot {
    struct options opt;
    struct series series[MAX_SERIES];
    int series_count;
    char categories[MAX_CATEGORIES][MAX_NAME];
    int category_count;
    double xmin, xmax, ymin, ymax; /* the axes' ranges, in data units */
};

/* ------------------------------------------------------------------------------------
 * Reading the points
 * ------------------------------------------------------------------------------------ */

/* Copies a name into a MAX_NAME field, cut short if it is longer. */
static void copy_name(char *to, const char *from)
{
    size_t len = strlen(from);
    if (len > MAX_NAME - 1)
        len = MAX_NAME - 1;
    memcpy(to, from, len);
    to[len] = '\0';
}

/* The series called name, created if it is new; NULL when there are too many. */
static struct series *find_series(struct plot *p, const char *name)
{
    for (int i = 0; i < p->series_count; i++)
        if (strcmp(p->series[i].name, name) == 0)
            return &p->series[i];
    if (p->series_count == MAX_SERIES)
        return NULL;
    struct series *s = &p->series[p->series_count++];
    copy_name(s->name, name);
    s->count = 0;
    return s;
}

/* A category's position on the x axis (0, 1, 2 ...), added if it is new; -1 if full. */
static int find_category(struct plot *p, const char *label)
{
    for (int i = 0; i < p->category_count; i++)
        if (strcmp(p->categories[i], label) == 0)
            return i;
    if (p->category_count == MAX_CATEGORIES)
        return -1;
    copy_name(p->categories[p->category_count], label);
    return p->category_count++;
}

static int parse_number(const char *text, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(text, &end);
    return errno != 0 || end == text || (*end != '\0' && *end != '\n') ? -1 : 0;
}

/* Splits "name\tx\ty" in place. Returns 0, or -1 for a line without three fields. */
static int split_line(char *line, char **name, char **x, char **y)
{
    *name = line;
    *x = strchr(line, '\t');
    if (*x == NULL)
        return -1;
    *(*x)++ = '\0';
    *y = strchr(*x, '\t');
    if (*y == NULL)
        return -1;
    *(*y)++ = '\0';
    return 0;
}

/* Adds one input line to the plot. Returns 0, or -1 with a message on stderr. */
static int add_point(struct plot *p, char *line, int line_no)
{
    char *name, *xtext, *ytext;
    double x, y;
    struct series *s;

    if (split_line(line, &name, &xtext, &ytext) < 0 || parse_number(ytext, &y) < 0) {
        fprintf(stderr, "svgplot: line %d: want NAME<TAB>X<TAB>Y\n", line_no);
        return -1;
    }
    if (p->opt.categories) {
        xtext[strcspn(xtext, "\n")] = '\0';
        int c = find_category(p, xtext);
        if (c < 0) {
            fprintf(stderr, "svgplot: more than %d categories\n", MAX_CATEGORIES);
            return -1;
        }
        x = c;
    } else if (parse_number(xtext, &x) < 0) {
        fprintf(stderr, "svgplot: line %d: x is not a number: %s\n", line_no, xtext);
        return -1;
    }
    if ((p->opt.logx && !p->opt.categories && x <= 0) || (p->opt.logy && y <= 0)) {
        fprintf(stderr, "svgplot: line %d: a log axis needs values above 0\n", line_no);
        return -1;
    }
    s = find_series(p, name);
    if (s == NULL || s->count == MAX_POINTS) {
        fprintf(stderr, "svgplot: line %d: too many series or points\n", line_no);
        return -1;
    }
    s->x[s->count] = x;
    s->y[s->count++] = y;
    return 0;
}

static int read_points(struct plot *p, FILE *in)
{
    char line[MAX_LINE];
    int line_no = 0;

    while (fgets(line, sizeof line, in) != NULL) {
        line_no++;
        if (line[0] == '\n' || line[0] == '#')
            continue;
        if (add_point(p, line, line_no) < 0)
            return -1;
    }
    if (ferror(in)) {
        fprintf(stderr, "svgplot: reading standard input: %s\n", strerror(errno));
        return -1;
    }
    if (p->series_count == 0) {
        fprintf(stderr, "svgplot: no points on standard input\n");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------
 * Axes: ranges, positions and ticks
 * ------------------------------------------------------------------------------------ */

/* Widens a log range to whole decades, and a linear one to start at zero. */
static void round_range(double *lo, double *hi, int log_axis)
{
    if (log_axis) {
        *lo = pow(10, floor(log10(*lo)));
        *hi = pow(10, ceil(log10(*hi)));
        if (*hi <= *lo)
            *hi = *lo * 10;
        return;
    }
    if (*lo > 0)
        *lo = 0;
    if (*hi <= *lo)
        *hi = *lo + 1;
    *hi *= 1.05; /* a little headroom above the highest point */
}

static void find_ranges(struct plot *p)
{
    p->xmin = p->ymin = HUGE_VAL;
    p->xmax = p->ymax = -HUGE_VAL;
    for (int i = 0; i < p->series_count; i++) {
        const struct series *s = &p->series[i];
        for (int j = 0; j < s->count; j++) {
            p->xmin = fmin(p->xmin, s->x[j]);
            p->xmax = fmax(p->xmax, s->x[j]);
            p->ymin = fmin(p->ymin, s->y[j]);
            p->ymax = fmax(p->ymax, s->y[j]);
        }
    }
    if (p->opt.categories) {
        p->xmin = -0.5;
        p->xmax = p->category_count - 0.5;
    } else if (p->opt.logx) {
        p->xmin /= 1.3; /* room for the outer markers, without a wasted decade */
        p->xmax *= 1.3;
    } else if (p->xmax <= p->xmin) {
        p->xmax = p->xmin + 1;
    }
    round_range(&p->ymin, &p->ymax, p->opt.logy);
}

/* Where a value lands between 0 (the low end of the axis) and 1 (the high end). */
static double fraction(double v, double lo, double hi, int log_axis)
{
    if (log_axis)
        return (log10(v) - log10(lo)) / (log10(hi) - log10(lo));
    return (v - lo) / (hi - lo);
}

static double px(const struct plot *p, double x)
{
    int log_axis = p->opt.logx && !p->opt.categories;
    return MARGIN_LEFT + PLOT_W * fraction(x, p->xmin, p->xmax, log_axis);
}

static double py(const struct plot *p, double y)
{
    return MARGIN_TOP + PLOT_H * (1 - fraction(y, p->ymin, p->ymax, p->opt.logy));
}

/* 1234567 -> "1.2M": tick labels stay short. */
static void format_value(double v, char *out, size_t size)
{
    static const struct {
        double scale;
        const char *suffix;
    } units[] = {{1e9, "G"}, {1e6, "M"}, {1e3, "k"}};

    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (fabs(v) >= units[i].scale) {
            snprintf(out, size, "%g%s", v / units[i].scale, units[i].suffix);
            return;
        }
    }
    snprintf(out, size, "%g", v);
}

/* A tick step of 1, 2 or 5 times a power of ten, giving about five ticks. */
static double linear_step(double lo, double hi)
{
    double raw = (hi - lo) / 5, magnitude = pow(10, floor(log10(raw)));
    double normal = raw / magnitude;
    return magnitude * (normal < 1.5 ? 1 : normal < 3.5 ? 2 : normal < 7.5 ? 5 : 10);
}

/*
 * Ticks of a log axis: every decade, and within a range of two decades or less also 2
 * and 5 times each one. Returns how many were stored in ticks[].
 */
static int log_ticks(double lo, double hi, double *ticks, int max)
{
    int n = 0, fine = log10(hi / lo) <= 2.01;
    for (double decade = lo; decade <= hi * 1.0001 && n < max; decade *= 10) {
        ticks[n++] = decade;
        if (fine && decade * 2 <= hi * 1.0001 && n < max)
            ticks[n++] = decade * 2;
        if (fine && decade * 5 <= hi * 1.0001 && n < max)
            ticks[n++] = decade * 5;
    }
    return n;
}

static int linear_ticks(double lo, double hi, double *ticks, int max)
{
    double step = linear_step(lo, hi);
    int n = 0;
    for (double v = ceil(lo / step) * step; v <= hi * 1.0001 && n < max; v += step)
        ticks[n++] = fabs(v) < step * 1e-9 ? 0 : v;
    return n;
}

/* ------------------------------------------------------------------------------------
 * Writing the SVG
 * ------------------------------------------------------------------------------------ */

/* Text for SVG: the five characters XML reserves, escaped. */
static void put_text(const char *text)
{
    for (; *text != '\0'; text++) {
        switch (*text) {
        case '&': fputs("&amp;", stdout); break;
        case '<': fputs("&lt;", stdout); break;
        case '>': fputs("&gt;", stdout); break;
        case '"': fputs("&quot;", stdout); break;
        case '\'': fputs("&apos;", stdout); break;
        default: putchar(*text);
        }
    }
}

static void put_label(double x, double y, const char *anchor, const char *extra,
                      const char *text)
{
    printf("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s>", x, y, anchor, extra);
    put_text(text);
    printf("</text>\n");
}

static void draw_y_axis(const struct plot *p)
{
    double ticks[64];
    char label[32];
    int n = p->opt.logy ? log_ticks(p->ymin, p->ymax, ticks, 64)
                        : linear_ticks(p->ymin, p->ymax, ticks, 64);

    for (int i = 0; i < n; i++) {
        double y = py(p, ticks[i]);
        printf("<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"grid\"/>\n",
               MARGIN_LEFT, y, MARGIN_LEFT + PLOT_W, y);
        format_value(ticks[i], label, sizeof label);
        put_label(MARGIN_LEFT - 8, y + 4, "end", "", label);
    }
    printf("<text transform=\"translate(18,%d) rotate(-90)\" text-anchor=\"middle\">",
           MARGIN_TOP + PLOT_H / 2);
    put_text(p->opt.ylabel);
    printf("</text>\n");
}

/*
 * The distinct x values of all the series, in ascending order, if there are at most max
 * of them: a benchmark's x values are the few points it measured (depth 1, 16, 128), and
 * those make the clearest ticks. Returns their number, or 0 when there are more.
 */
static int data_ticks(const struct plot *p, double *ticks, int max)
{
    int n = 0;
    for (int i = 0; i < p->series_count; i++) {
        for (int j = 0; j < p->series[i].count; j++) {
            double x = p->series[i].x[j];
            int at = 0;
            while (at < n && ticks[at] < x)
                at++;
            if (at < n && ticks[at] == x)
                continue;
            if (n == max)
                return 0;
            memmove(ticks + at + 1, ticks + at, (size_t)(n - at) * sizeof *ticks);
            ticks[at] = x;
            n++;
        }
    }
    return n;
}

static void draw_x_axis(const struct plot *p)
{
    double ticks[64];
    char label[MAX_NAME];
    int n;

    if (p->opt.categories) {
        n = p->category_count;
        for (int i = 0; i < n; i++)
            ticks[i] = i;
    } else if ((n = data_ticks(p, ticks, 10)) > 0) {
        /* the measured points themselves */
    } else {
        n = p->opt.logx ? log_ticks(p->xmin, p->xmax, ticks, 64)
                        : linear_ticks(p->xmin, p->xmax, ticks, 64);
    }
    for (int i = 0; i < n; i++) {
        double x = px(p, ticks[i]);
        printf("<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"grid\"/>\n", x,
               MARGIN_TOP, x, MARGIN_TOP + PLOT_H);
        if (p->opt.categories)
            copy_name(label, p->categories[i]);
        else
            format_value(ticks[i], label, sizeof label);
        put_label(x, MARGIN_TOP + PLOT_H + 18, "middle", "", label);
    }
    put_label(MARGIN_LEFT + PLOT_W / 2.0, MARGIN_TOP + PLOT_H + 42, "middle", "",
              p->opt.xlabel);
}

/* Marker shapes take turns with the colours, so the series part even in grey print. */
static void draw_marker(double x, double y, int index, const char *colour)
{
    switch (index % 4) {
    case 0:
        printf("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", x, y, colour);
        break;
    case 1:
        printf("<rect x=\"%.1f\" y=\"%.1f\" width=\"8\" height=\"8\" fill=\"%s\"/>\n", x - 4,
               y - 4, colour);
        break;
    case 2:
        printf("<path d=\"M%.1f %.1fl5 8h-10z\" fill=\"%s\"/>\n", x, y - 5, colour);
        break;
    default:
        printf("<path d=\"M%.1f %.1fl5 5l-5 5l-5 -5z\" fill=\"%s\"/>\n", x, y - 5, colour);
    }
}

static void draw_series(const struct plot *p, int index)
{
    const struct series *s = &p->series[index];
    const char *colour = colours[index];

    printf("<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", colour,
           index >= 6 ? " stroke-dasharray=\"6 3\"" : "");
    for (int j = 0; j < s->count; j++)
        printf("%s%.1f,%.1f", j ? " " : "", px(p, s->x[j]), py(p, s->y[j]));
    printf("\"/>\n");
    for (int j = 0; j < s->count; j++)
        draw_marker(px(p, s->x[j]), py(p, s->y[j]), index, colour);
}

static void draw_legend(const struct plot *p)
{
    int x = MARGIN_LEFT + PLOT_W + 18;

    for (int i = 0; i < p->series_count; i++) {
        int y = MARGIN_TOP + 10 + 22 * i;
        printf("<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
               "stroke-width=\"2\"/>\n", x, y, x + 24, y, colours[i]);
        draw_marker(x + 12, y, i, colours[i]);
        put_label(x + 32, y + 4, "start", "", p->series[i].name);
    }
}

static void write_svg(const struct plot *p)
{
    printf("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
           "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"13\">\n",
           WIDTH, HEIGHT, WIDTH, HEIGHT);
    printf("<style>.grid { stroke: #dddddd; stroke-width: 1 }</style>\n");
    printf("<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    put_label(WIDTH / 2.0, 26, "middle", " font-size=\"16\" font-weight=\"bold\"",
              p->opt.title);
    draw_y_axis(p);
    draw_x_axis(p);
    printf("<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
           "stroke=\"#444444\"/>\n", MARGIN_LEFT, MARGIN_TOP, PLOT_W, PLOT_H);
    for (int i = 0; i < p->series_count; i++)
        draw_series(p, i);
    draw_legend(p);
    if (p->opt.note != NULL)
        put_label(WIDTH - 10, HEIGHT - 10, "end", " font-size=\"11\" fill=\"#666666\"",
                  p->opt.note);
    printf("</svg>\n");
}

/* ------------------------------------------------------------------------------------
 * Command line and main
 * ------------------------------------------------------------------------------------ */

static int parse_options(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    o->title = o->xlabel = o->ylabel = "";
    for (int i = 1; i < argc; i++) {
        const char **text = strcmp(argv[i], "--title") == 0    ? &o->title
                            : strcmp(argv[i], "--xlabel") == 0 ? &o->xlabel
                            : strcmp(argv[i], "--ylabel") == 0 ? &o->ylabel
                            : strcmp(argv[i], "--note") == 0   ? &o->note
                                                               : NULL;
        if (text != NULL && i + 1 < argc)
            *text = argv[++i];
        else if (strcmp(argv[i], "--logx") == 0)
            o->logx = 1;
        else if (strcmp(argv[i], "--logy") == 0)
            o->logy = 1;
        else if (strcmp(argv[i], "--categories") == 0)
            o->categories = 1;
        else
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct plot plot; /* static: the points take about 50 KiB */

    if (parse_options(argc, argv, &plot.opt) < 0) {
        fprintf(stderr, "usage: svgplot [--title T] [--xlabel X] [--ylabel Y] [--logx] "
                        "[--logy] [--categories] [--note TEXT] < points > plot.svg\n");
        return 2;
    }
    if (read_points(&plot, stdin) < 0)
        return 1;
    find_ranges(&plot);
    write_svg(&plot);
    if (fflush(stdout) == EOF || ferror(stdout)) {
        fprintf(stderr, "svgplot: writing standard output: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}
